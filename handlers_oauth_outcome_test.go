package anonymous_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/descope-contrib/anonymous"
)

// The social login finish says how it ended, as the verify handlers do: a
// new provider account is "created" (a new user, whatever the strategy),
// a returning customer's account "signed_in", with WithMerge too; a page
// tells a returning customer from a new account by it alone.
func TestOAuthFinishAnswersOutcome(t *testing.T) {
	merge := anonymous.WithMerge(func(context.Context, *anonymous.User, *anonymous.User) error { return nil })
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens} {
		for _, tc := range []struct {
			name string
			opts []anonymous.Option
		}{{"signed-in", nil}, {"merged", []anonymous.Option{merge}}} {
			t.Run(s.String()+"/"+tc.name, func(t *testing.T) {
				env := oauthEnv(t, s, tc.opts...)
				b, _ := env.Visitor(t)
				me := finishOAuth(t, env, b, providerAnswer(t, startOAuth(t, env, b), "new@example.com", "allow"))
				if me.Status != http.StatusOK || outcomeOf(t, me) != anonymous.OutcomeCreated {
					t.Errorf("a new provider account: %d %s, want outcome %q", me.Status, me.Body, anonymous.OutcomeCreated)
				}
				owner := env.Registered(t, "owner@example.com")
				c, _ := env.Visitor(t)
				me = finishOAuth(t, env, c, providerAnswer(t, startOAuth(t, env, c), "owner@example.com", "allow"))
				if me.Status != http.StatusOK || me.UserID != owner.UserID || outcomeOf(t, me) != anonymous.OutcomeSignedIn {
					t.Errorf("a returning customer: %d %s, want %s with outcome %q", me.Status, me.Body, owner.UserID, anonymous.OutcomeSignedIn)
				}
			})
		}
	}
}
