package descopetest_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestFlowsNotEmulated(t *testing.T) {
	emu, _, _ := setup(t)
	for _, path := range []string{"/v1/flow/start", "/v1/flow/next"} {
		status, body := rawCall(t, emu, http.MethodPost, path, emu.ProjectID, `{"flowId":"sign-up-or-in"}`)
		msg, _ := body["errorMessage"].(string)
		if status != http.StatusNotImplemented || body["errorCode"] == nil || !strings.Contains(msg, "POST "+path+" is not emulated") {
			t.Errorf("%s: %d %v", path, status, body)
		}
	}
}
