package anonymous_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// A page decides what to show by the error's reason, not by its words:
// every error of the conversion handlers carries a stable "reason" beside
// "error", the same name ErrorReason gives and the failure event reports.
func TestHandlerErrorsCarryReason(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil, anonymous.WithReturningCustomers(false))
	owner, _ := env.Visitor(t)
	env.Post(t, owner, "/convert/start", map[string]string{"email": "taken@example.com"})
	code, _ := env.Emu.Outbox("taken@example.com")
	if me := env.Post(t, owner, "/convert/verify", map[string]string{"email": "taken@example.com", "code": code}); me.Status != http.StatusOK {
		t.Fatalf("owner's conversion: %+v", me)
	}
	b, _ := env.Visitor(t)
	for _, tc := range []struct {
		name   string
		do     func() anontest.Me
		status int
		reason string
	}{
		{"address", func() anontest.Me {
			return env.Post(t, b, "/convert/start", map[string]string{"email": "not an address"})
		}, http.StatusBadRequest, "invalid_address"},
		{"in use", func() anontest.Me {
			return env.Post(t, b, "/convert/start", map[string]string{"email": "taken@example.com"})
		}, http.StatusConflict, "identifier_in_use"},
		{"nothing pending", func() anontest.Me {
			return env.Post(t, b, "/convert/verify", map[string]string{"email": "new@example.com", "code": "123456"})
		}, http.StatusConflict, "no_pending_conversion"},
		{"no body", func() anontest.Me {
			return env.Post(t, b, "/convert/start", map[string]string{})
		}, http.StatusBadRequest, "bad_request"},
		{"cross origin", func() anontest.Me {
			return env.Do(t, b, http.MethodPost, "/convert/start", map[string]string{"email": "a@example.com"}, func(r *http.Request) {
				r.Header.Set("Origin", "https://evil.example")
				r.Header.Set("Sec-Fetch-Site", "cross-site")
			})
		}, http.StatusForbidden, "cross_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			me := tc.do()
			var body struct{ Error, Reason string }
			if err := json.Unmarshal([]byte(me.Body), &body); err != nil || body.Error == "" {
				t.Fatalf("%d %q is not a JSON error: %v", me.Status, me.Body, err)
			}
			if me.Status != tc.status || body.Reason != tc.reason {
				t.Errorf("%d %s, want %d with reason %q", me.Status, me.Body, tc.status, tc.reason)
			}
		})
	}
}

// ErrorReason names the sentinels, wrapped or not, and nothing else.
func TestErrorReason(t *testing.T) {
	for err, want := range map[error]string{
		anonymous.ErrIdentifierInUse:                               "identifier_in_use",
		fmt.Errorf("during x: %w", anonymous.ErrTooManyCodes):      "too_many_codes",
		errors.Join(errors.New("other"), anonymous.ErrInvalidName): "invalid_name",
		errors.New("something else"):                               "",
		nil:                                                        "",
	} {
		if got := anonymous.ErrorReason(err); got != want {
			t.Errorf("ErrorReason(%v) = %q, want %q", err, got, want)
		}
	}
}
