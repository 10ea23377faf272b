package descopetest_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/descope/go-sdk/descope"
)

// The management calls below are sent as node-sdk 2.13.0 sends them
// (lib/management/user.ts), which names some fields unlike go-sdk.

func TestPatchNodeSpellings(t *testing.T) {
	emu, sdk, ctx := setup(t)
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "ada@example.com", &descope.UserRequest{
		User: descope.User{Name: "Ada", Email: "ada@example.com"},
	}))

	status, body := rawCall(t, emu, http.MethodPatch, "/v1/mgmt/user/patch", mgmtAuth(emu),
		`{"loginId":"ada@example.com","displayName":"Ada Lovelace","additionalIdentifiers":["ada-alt"]}`)
	if status != http.StatusOK {
		t.Fatalf("patch: %d %v", status, body)
	}
	u, _ := emu.User("ada@example.com")
	if u.Name != "Ada Lovelace" || !slices.Equal(u.LoginIDs, []string{"ada@example.com", "ada-alt"}) {
		t.Fatalf("after a patch with displayName and additionalIdentifiers: name %q, login IDs %q", u.Name, u.LoginIDs)
	}
	if u.Email != "ada@example.com" {
		t.Fatalf("patch changed a field it did not send: email %q", u.Email)
	}

	// go-sdk's spellings still work, and two that disagree are refused.
	status, _ = rawCall(t, emu, http.MethodPatch, "/v1/mgmt/user/patch", mgmtAuth(emu),
		`{"loginId":"ada@example.com","name":"Countess","additionalLoginIds":[]}`)
	if u, _ = emu.User("ada@example.com"); status != http.StatusOK || u.Name != "Countess" || len(u.LoginIDs) != 1 {
		t.Fatalf("patch with go-sdk's names: %d, %+v", status, u)
	}
	status, body = rawCall(t, emu, http.MethodPatch, "/v1/mgmt/user/patch", mgmtAuth(emu),
		`{"loginId":"ada@example.com","name":"A","displayName":"B"}`)
	if status != http.StatusBadRequest || body["errorCode"] != "E011003" {
		t.Fatalf("patch with disagreeing names: %d %v", status, body)
	}
	status, _ = rawCall(t, emu, http.MethodPatch, "/v1/mgmt/user/patch", mgmtAuth(emu),
		`{"loginId":"ada@example.com","additionalLoginIds":["x"],"additionalIdentifiers":["y"]}`)
	if u, _ = emu.User("ada@example.com"); status != http.StatusBadRequest || u.Name != "Countess" || len(u.LoginIDs) != 1 {
		t.Fatalf("patch with disagreeing login IDs: %d, %+v", status, u)
	}
}

func TestSearchTestUsers(t *testing.T) {
	emu, sdk, ctx := setup(t)
	users := sdk.Management.User()
	must[*descope.UserResponse](t)(users.Create(ctx, "real", nil))
	must[*descope.UserResponse](t)(users.CreateTestUser(ctx, "test-1", nil))
	must[*descope.UserResponse](t)(users.CreateTestUser(ctx, "test-2", nil))

	// node-sdk's searchTestUsers sends testUsersOnly and withTestUser true;
	// the endpoint answers test users only even without them.
	for _, body := range []string{`{"withTestUser":true,"testUsersOnly":true,"limit":10}`, `{}`} {
		status, res := rawCall(t, emu, http.MethodPost, "/v2/mgmt/user/search/test", mgmtAuth(emu), body)
		if status != http.StatusOK {
			t.Fatalf("search/test %s: %d %v", body, status, res)
		}
		found, _ := res["users"].([]any)
		var ids []string
		for _, u := range found {
			ids = append(ids, toStrings(u.(map[string]any)["loginIds"])...)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"test-1", "test-2"}) || res["total"] != float64(2) {
			t.Fatalf("search/test %s found %q (total %v), want the two test users", body, ids, res["total"])
		}
	}
	status, _ := rawCall(t, emu, http.MethodPost, "/v2/mgmt/user/search/test", emu.ProjectID, `{}`)
	if status != http.StatusUnauthorized {
		t.Fatalf("search/test without a management key: %d", status)
	}
}
