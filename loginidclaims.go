package anonymous

import (
	"slices"

	"github.com/descope/go-sdk/descope"
)

// Login IDs from the session token. Descope puts no login ID in a session
// token of its own accord; a project's user JWT template can (Project
// Settings > JWT Templates, docs.descope.com/project-settings/jwt-templates):
// its custom claims may take dynamic values "pulled from Descope user
// attributes", which follow the attribute when it changes
// (docs.descope.com/management/token), among them user.loginIds, "all
// unique identifiers for a user. Usually an email and/or phone", and
// user.email and user.phone (docs.descope.com/dynamic-keys/user-keys). With
// a claim "loginIds" of dynamic value user.loginIds in the template (see
// docs/descope-settings.md), User.LoginIDs holds the user's login IDs on
// every request, a converted user's address among them, with no
// management call.
//
// They are read where a session token is verified in full (or issued), and
// kept in the token cache beside the user ID, so a cached session's request
// costs nothing more: without the claim, nothing at all.

// defaultLoginIDClaim is the claim WithLoginIDClaims reads by default.
const defaultLoginIDClaim = "loginIds"

// maxClaimedLoginIDs bounds the login IDs read from one token.
const maxClaimedLoginIDs = 32

// WithLoginIDClaims sets the session-token claims that [User.LoginIDs] is
// read from, when the project's JWT template puts the user's login IDs in
// its tokens: each claim a string or a list of strings (the dynamic values
// user.loginIds, user.email or user.phone), empty values skipped, the IDs
// in claim order without repeats. With no name, login IDs are never read
// from the token. Defaults to "loginIds".
func WithLoginIDClaims(names ...string) Option {
	return func(c *config) error {
		c.loginIDClaims = slices.Clone(names)
		return nil
	}
}

// claimedLoginIDs returns the login IDs t's claims carry (see
// WithLoginIDClaims), or nil.
func (m *Middleware) claimedLoginIDs(t *descope.Token) []string {
	var ids []string
	add := func(v any) {
		if s, ok := v.(string); ok && s != "" && len(ids) < maxClaimedLoginIDs && !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	for _, name := range m.cfg.loginIDClaims {
		switch v := t.Claims[name].(type) {
		case string:
			add(v)
		case []any:
			for _, x := range v {
				add(x)
			}
		case []string:
			for _, x := range v {
				add(x)
			}
		}
	}
	return ids
}
