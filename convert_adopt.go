package anonymous

import (
	"net/http"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Finishing a conversion done elsewhere. An application that runs its own
// Descope flow with the visitor's session, or calls Descope's web SDK with
// it, can add a verified email or phone to the anonymous user without this
// library; [Middleware.CompleteConversion] then sees it and ends the
// conversion as a code's would.

// CompleteConversion finishes the conversion of the user-backed anonymous
// visitor of r after the application's own Descope flow (or Descope's web
// SDK with the visitor's session) added a verified email or phone login ID
// to the user. It loads the user once; if a verified email or phone login ID
// other than the generated one is there, it proves the visitor's refresh
// token live at Descope (one refresh call), takes the user out of the
// anonymous tenant, drops the generated login ID, retires the anonymous
// refresh tokens (the one in force is revoked, as in
// [Middleware.FinishConversion]) and writes a fresh session and refresh
// cookie pair for the same user ID; the OnConvert hook runs and
// EventConverted reports Method "adopt".
//
// Without such a login ID it answers [ErrNothingVerified] and changes
// nothing. Native and local visitors have no user an identifier could be
// added to: they get [ErrNotUserBacked] (they convert with
// [Middleware.StartConversion] or [Middleware.StartLinkConversion]). A
// visitor converted already gets [ErrNotAnonymous], never a second pair of
// tokens. The calls are counted against the same per-visitor and per-client
// verification limits as a code's ([ErrTooManyAttempts]).
func (m *Middleware) CompleteConversion(w http.ResponseWriter, r *http.Request) (_ *User, err error) {
	guard := m.loserGuard(w, r)
	defer func() { guard(err) }()
	ctx := withMethod(r.Context(), methodAdopt)
	defer m.conversionFailed(ctx, &err)
	ctx, anon, rt, unlock, err := m.lockVisitor(ctx, r, func(r *http.Request) (*User, refreshToken, error) {
		anon, rt, err := m.resumable(r)
		if err == nil && (isNative(anon) || isLocal(anon)) {
			err = ErrNotUserBacked
		}
		return anon, rt, err
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Every limit is counted before Descope is asked anything.
	if err := m.takeVerifySlot(ctx, anon.ID, m.clientKey(r)); err != nil {
		return nil, err
	}
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, err
	}
	profile, loginID, err := m.generatedLoginID(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	a, ok := verifiedAdded(profile, loginID, m.cfg.isGenerated)
	switch {
	case !ok && !anon.Anonymous:
		return nil, ErrNotAnonymous
	case !ok:
		return nil, ErrNothingVerified
	case !rt.anonymous && !m.halfConverted(profile, loginID, tenant):
		// Converted already, and the session is a regular one: another
		// pair would let a stolen refresh token outlive its revocation.
		return nil, ErrNotAnonymous
	}
	return m.resume(ctx, w, anon, rt, a, profile, loginID, tenant)
}

// verifiedAdded returns a verified email or phone login ID of the profile
// p other than its generated login ID loginID: the first such email, else
// the phone.
func verifiedAdded(p *descope.UserResponse, loginID string, isGenerated func(string) bool) (address, bool) {
	var found address
	ok := false
	for _, id := range p.LoginIDs {
		if id == loginID || isGenerated(id) {
			continue
		}
		a := address{value: id, phone: !strings.Contains(id, "@")}
		if !ownsVerified(p, a) {
			continue
		}
		if !a.phone {
			return a, true
		}
		if !ok {
			found, ok = a, true
		}
	}
	return found, ok
}
