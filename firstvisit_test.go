package anonymous_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// TestConversionStartOnFirstRequest posts a visitor's very first request,
// with no cookie at all, straight to the ready-made conversion start: the
// middleware provisions the visitor on that request, and the start answers
// as it does for any visitor (a code sent, 200) with the new identity's
// cookies, in each strategy. The code then converts that identity.
func TestConversionStartOnFirstRequest(t *testing.T) {
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs} {
		t.Run(s.String(), func(t *testing.T) {
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil)
			b := env.Browser(t)
			const email = "first@example.com"
			start := env.Post(t, b, "/convert/start", map[string]string{"email": email})
			if start.Status != http.StatusOK || !strings.Contains(start.Body, `"maskedEmail"`) {
				t.Fatalf("start on the first request: %d %s", start.Status, start.Body)
			}
			for _, name := range env.IdentityCookies() {
				if !slices.ContainsFunc(start.SetCookie, func(c *http.Cookie) bool { return c.Name == name && c.Value != "" }) {
					t.Errorf("the start did not set the %s cookie of the new identity", name)
				}
			}
			if n := env.Emu.Requests("/v1/mgmt/user/create"); s == anonymous.UserBacked && n != 1 {
				t.Errorf("%d users created, want 1", n)
			}
			code, ok := env.Emu.Outbox(email)
			if !ok {
				t.Fatal("no code was sent")
			}
			anonID := env.Get(t, b, "/").UserID
			if anonID == "" {
				t.Fatal("the visitor kept no identity from its first request")
			}
			me := env.Post(t, b, "/convert/verify", map[string]string{"email": email, "code": code})
			if me.Status != http.StatusOK || me.Anonymous || !slices.Contains(me.LoginIDs, email) {
				t.Fatalf("verify: %+v", me)
			}
			if s == anonymous.UserBacked && me.UserID != anonID {
				t.Errorf("converted user %s, want the provisioned %s", me.UserID, anonID)
			}
			if s != anonymous.UserBacked {
				if got := env.Converted(); len(got) != 1 || got[0] != [2]string{anonID, me.UserID} {
					t.Errorf("OnConvert saw %v, want [%s %s]", got, anonID, me.UserID)
				}
			}
		})
	}
}
