package descopetest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
)

// OAuth ("social login"), as Descope's OpenAPI and go-sdk v1.28.0 describe
// it: an authorize call (POST /v1/auth/oauth/authorize, .../signin,
// .../signup, or .../update for a signed-in user) answers {"url"} to send
// the browser to; the provider sends the browser back to redirectURL with
// ?code=... (or ?err=... instead: go-sdk sdk/auth.go, ExchangeToken's
// comment), and POST /v1/auth/oauth/exchange {code} answers a JWT response
// with session and refresh tokens ("The response object includes the
// session JWT (sessionJwt) and refresh JWT (refreshJwt)", OpenAPI
// ExchangeCodeoauth; the exchange itself carries no refresh token, only
// Bearer <project ID>).
//
// The emulator is its own provider, like Firebase's Auth emulator: url
// points to a page it serves (oauth_page.go) where the tester picks or
// types the provider account (email, name, account ID) or denies. The page
// decides what the redirect carries; the exchange does what the page
// decided, checked again, since the project may have changed in between.
//
// Documented, and modelled: sign-in with a provider account whose email is
// an existing user's login ID links the account to that user when the
// provider's merge_user_accounts setting is on (the default;
// WithOAuthProvider), and is refused otherwise. authorize/update with
// allowAllMerge=false links the account only when it shares an identifier
// with the signed-in user (its email is the user's email or one of its
// login IDs): allowAllMerge is to "allow updating the existing user also
// if there is no common identifier between the OAuth and the existing user
// (like email)" (go-sdk sdk/auth.go).
//
// Not documented, and the emulator's choices: what update does when the
// account is already another user's (WithOAuthUpdateConflict picks among
// OAuthConflicts); update makes the provider's email the user's email
// (verified if the provider says so) when the user has none or the same
// one, and never one of its login IDs, since the update call has no
// addToLoginIDs; a new user's login ID is the provider's email (or the
// account ID when the provider gives none); the amr claim is "oauth"; the
// err values (OAuthErr...) are the emulator's own.

// The err values of a redirect that carries no code.
const (
	// OAuthErrDenied: the tester chose "deny" on the provider page.
	OAuthErrDenied = "access_denied"
	// OAuthErrExpired: the provider page was submitted after OAuthCodeTTL.
	OAuthErrExpired = "expired"
	// OAuthErrUserNotFound: a sign-in found no user for the account.
	OAuthErrUserNotFound = "user_not_found"
	// OAuthErrUserExists: a sign-up found the account or its email taken,
	// or a sign-in found the email taken with merge_user_accounts off.
	OAuthErrUserExists = "user_already_exists"
	// OAuthErrUserDisabled: the user to sign in is disabled.
	OAuthErrUserDisabled = "user_disabled"
	// OAuthErrNoCommonIdentifier: an update without allowAllMerge for an
	// account that shares no identifier with the signed-in user.
	OAuthErrNoCommonIdentifier = "no_common_identifier"
	// OAuthErrMergeConflict: an update for an account that is another
	// user's, with OAuthConflictError or merge_user_accounts off.
	OAuthErrMergeConflict = "merge_conflict"
	// OAuthErrSessionEnded: the session that started an update was
	// revoked or its user deleted.
	OAuthErrSessionEnded = "session_expired"
)

// oauthKind is what an authorization does once the provider answered.
type oauthKind int

const (
	oauthSignUpOrIn oauthKind = iota
	oauthSignIn
	oauthSignUp
	oauthUpdate
)

// oauthState is an authorization waiting on the provider page. Guarded by
// Emulator.mu.
type oauthState struct {
	kind          oauthKind
	provider      string
	redirectURL   string
	loginHint     string
	custom        map[string]any
	userID        string // update: the signed-in user
	refreshJTI    string // update: the refresh token that started it
	allowAllMerge bool
	expires       time.Time
}

// oauthAccount is the provider account the provider page returns.
type oauthAccount struct {
	Sub      string // the provider's ID of the account
	Email    string
	Name     string
	Verified bool // whether the provider vouches for the email
}

// oauthCode is an authorization the provider page approved, waiting to be
// exchanged. Guarded by Emulator.mu.
type oauthCode struct {
	state   *oauthState
	account oauthAccount
	expires time.Time
}

// oauthStart is the query of an authorize call.
type oauthStart struct {
	provider    string
	redirectURL string
	loginHint   string
}

// readOAuthStart reads and checks the query of an authorize call: a known
// provider and an absolute redirect URL. go-sdk and core-js-sdk send
// redirectURL; the OpenAPI names it redirectUrl; both are accepted.
func (e *Emulator) readOAuthStart(c *call) (*oauthStart, *apiError) {
	q := c.r.URL.Query()
	s := &oauthStart{provider: q.Get("provider"), redirectURL: q.Get("redirectURL"), loginHint: q.Get("loginHint")}
	if s.redirectURL == "" {
		s.redirectURL = q.Get("redirectUrl")
	}
	if a := required(field{"provider", s.provider}, field{"redirectURL", s.redirectURL}); a != nil {
		return nil, a
	}
	if !e.cfg.methods.knownProvider(s.provider) {
		return nil, invalid("unknown OAuth provider %q", s.provider)
	}
	if u, err := url.Parse(s.redirectURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, invalid("redirectURL %q is not an absolute URL", s.redirectURL)
	}
	return s, nil
}

// handleOAuthSignUpOrIn starts a sign-up-or-in with a provider.
func (e *Emulator) handleOAuthSignUpOrIn(c *call, req *loginOptions) (any, *apiError) {
	return e.oauthAuthorize(c, req, oauthSignUpOrIn)
}

// handleOAuthSignIn starts a sign-in of an existing user with a provider.
func (e *Emulator) handleOAuthSignIn(c *call, req *loginOptions) (any, *apiError) {
	return e.oauthAuthorize(c, req, oauthSignIn)
}

// handleOAuthSignUp starts a sign-up of a new user with a provider.
func (e *Emulator) handleOAuthSignUp(c *call, req *loginOptions) (any, *apiError) {
	return e.oauthAuthorize(c, req, oauthSignUp)
}

// oauthAuthorize starts an authorization of the kind and answers the URL
// of the provider page.
func (e *Emulator) oauthAuthorize(c *call, req *loginOptions, kind oauthKind) (any, *apiError) {
	s, a := e.readOAuthStart(c)
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &oauthState{
		kind: kind, provider: s.provider, redirectURL: s.redirectURL, loginHint: s.loginHint,
		custom: cloneAny(req.claims()),
	}
	return e.openOAuthLocked(c, st), nil
}

// handleOAuthUpdate starts linking a provider account to the signed-in
// user.
func (e *Emulator) handleOAuthUpdate(c *call, req *loginOptions) (any, *apiError) {
	s, a := e.readOAuthStart(c)
	if a != nil {
		return nil, a
	}
	allowAllMerge := c.r.URL.Query().Get("allowAllMerge") == "true"
	return e.withSession(c, func(rec *refreshRecord, u *user) (any, *apiError) {
		if rec.anon {
			return nil, invalid("anonymous sessions have no user to update")
		}
		st := &oauthState{
			kind: oauthUpdate, provider: s.provider, redirectURL: s.redirectURL, loginHint: s.loginHint,
			custom: cloneAny(req.claims()), userID: u.id, refreshJTI: c.refresh.jti, allowAllMerge: allowAllMerge,
		}
		return e.openOAuthLocked(c, st), nil
	})
}

// openOAuthLocked stores st under a new state and answers the URL of its
// provider page.
func (e *Emulator) openOAuthLocked(c *call, st *oauthState) any {
	now := e.now()
	st.expires = now.Add(OAuthCodeTTL)
	id := newLinkToken()
	sweepExpired(e.methods.oauthStates, now, func(s *oauthState) time.Time { return s.expires })
	e.methods.oauthStates[id] = st
	base := e.URL
	if base == "" {
		base = "http://" + c.r.Host
	}
	return map[string]string{"url": base + oauthPagePath + "?state=" + url.QueryEscape(id)}
}

// defaultSub is the account ID the provider page gives an account typed
// without one: stable for the provider and email.
func defaultSub(provider, email string) string {
	sum := sha256.Sum256([]byte(provider + "|" + normLogin(email)))
	return hex.EncodeToString(sum[:10])
}

// oauthPlan is what an approved authorization does: refuse (err), or sign
// in user, after creating it (user nil) and merging the other user into it
// (mergeFrom).
type oauthPlan struct {
	err       string // an OAuthErr... value: refuse
	user      *user  // the user to sign in; nil: create one
	mergeFrom *user  // merged into user and deleted
}

// planOAuthLocked decides what the authorization st does with the account.
func (e *Emulator) planOAuthLocked(st *oauthState, acct *oauthAccount) oauthPlan {
	if st.kind == oauthUpdate {
		return e.planOAuthUpdateLocked(st, acct)
	}
	var u *user
	if u = e.identityOwnerLocked(st.provider, acct.Sub); u == nil && acct.Email != "" {
		if u = e.userByLoginLocked(acct.Email); u != nil && e.cfg.methods.noMerge[st.provider] {
			if st.kind == oauthSignIn {
				return oauthPlan{err: OAuthErrUserNotFound}
			}
			return oauthPlan{err: OAuthErrUserExists}
		}
	}
	switch {
	case u == nil && st.kind == oauthSignIn:
		return oauthPlan{err: OAuthErrUserNotFound}
	case u != nil && st.kind == oauthSignUp:
		return oauthPlan{err: OAuthErrUserExists}
	case u != nil && u.status == "disabled":
		return oauthPlan{err: OAuthErrUserDisabled}
	}
	return oauthPlan{user: u}
}

// planOAuthUpdateLocked decides what linking the account to the user who
// started st does.
func (e *Emulator) planOAuthUpdateLocked(st *oauthState, acct *oauthAccount) oauthPlan {
	u := e.users[st.userID]
	if rec := e.tokens[st.refreshJTI]; u == nil || rec == nil || rec.revoked {
		return oauthPlan{err: OAuthErrSessionEnded}
	}
	if u.status == "disabled" {
		return oauthPlan{err: OAuthErrUserDisabled}
	}
	owner := e.identityOwnerLocked(st.provider, acct.Sub)
	if owner == u {
		return oauthPlan{user: u}
	}
	if !st.allowAllMerge && !sharesIdentifier(u, acct.Email) {
		return oauthPlan{err: OAuthErrNoCommonIdentifier}
	}
	other := owner
	if other == nil && acct.Email != "" {
		if o := e.userByLoginLocked(acct.Email); o != u {
			other = o
		}
	}
	if other == nil {
		return oauthPlan{user: u}
	}
	mode := e.cfg.methods.conflict()
	if e.cfg.methods.noMerge[st.provider] && mode != OAuthConflictLinkToCurrent {
		mode = OAuthConflictError
	}
	switch mode {
	case OAuthConflictMergeIntoCurrent:
		return oauthPlan{user: u, mergeFrom: other}
	case OAuthConflictReturnExisting:
		if other.status == "disabled" {
			return oauthPlan{err: OAuthErrUserDisabled}
		}
		return oauthPlan{user: other, mergeFrom: u}
	case OAuthConflictLinkToCurrent:
		return oauthPlan{user: u}
	}
	return oauthPlan{err: OAuthErrMergeConflict}
}

// sharesIdentifier reports whether email is u's email or one of its login
// IDs.
func sharesIdentifier(u *user, email string) bool {
	if email == "" {
		return false
	}
	if u.email != "" && normLogin(u.email) == normLogin(email) {
		return true
	}
	for _, id := range u.loginIDs {
		if normLogin(id) == normLogin(email) {
			return true
		}
	}
	return false
}

// executeOAuthLocked does what plan says for the account and returns the
// grant of the user signed in.
func (e *Emulator) executeOAuthLocked(st *oauthState, acct *oauthAccount, plan oauthPlan) (*grant, *apiError) {
	u, first := plan.user, false
	if u == nil {
		loginID := acct.Email
		if loginID == "" {
			loginID = acct.Sub
		}
		in := &userInput{loginIDs: []string{loginID}}
		in.name = acct.Name
		if acct.Email != "" {
			in.setAddress("email", acct.Email, acct.Verified)
		}
		var a *apiError
		if u, a = e.createUserLocked(in); a != nil {
			return nil, a
		}
		first = true
	}
	if plan.mergeFrom != nil {
		e.mergeUsersLocked(u, plan.mergeFrom)
	}
	e.linkIdentityLocked(u, st.provider, acct.Sub)
	if acct.Email != "" && !first {
		if acct.Verified {
			u.markVerified("email", acct.Email)
		} else if u.email == "" {
			u.setAddress("email", acct.Email, false)
		}
	}
	if u.name == "" {
		u.name = acct.Name
	}
	e.touchLocked(u)
	g := e.signInGrantLocked(u, "oauth")
	g.custom, g.firstSeen = st.custom, first
	return g, nil
}

// exchangeRequest is the body of OAuth exchange.
type exchangeRequest struct {
	Code string `json:"code"`
}

// handleOAuthExchange answers the tokens of an authorization the provider
// page approved. The code is spent whatever the outcome.
func (e *Emulator) handleOAuthExchange(c *call, req *exchangeRequest) (any, *apiError) {
	if req.Code == "" {
		return nil, missingArg("code")
	}
	return e.issue(func() (*grant, *apiError) {
		code := e.methods.oauthCodes[req.Code]
		delete(e.methods.oauthCodes, req.Code)
		if code == nil || !e.now().Before(code.expires) {
			return nil, badOAuthCode()
		}
		plan := e.planOAuthLocked(code.state, &code.account)
		switch plan.err {
		case "":
		case OAuthErrSessionEnded:
			return nil, loggedOut()
		default:
			return nil, invalid("the OAuth authorization is refused: %s", plan.err)
		}
		return e.executeOAuthLocked(code.state, &code.account, plan)
	})
}

// trimAccount cleans up what the provider page submitted: trimmed fields,
// and an account ID derived from the email when none was typed.
func trimAccount(provider string, acct oauthAccount) oauthAccount {
	acct.Sub = strings.TrimSpace(acct.Sub)
	acct.Email = strings.TrimSpace(acct.Email)
	acct.Name = strings.TrimSpace(acct.Name)
	if acct.Sub == "" && acct.Email != "" {
		acct.Sub = defaultSub(provider, acct.Email)
	}
	return acct
}
