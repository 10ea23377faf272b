package anonymous

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/descope/go-sdk/descope"
)

// The finish of the methods whose answer Descope ties to no address the
// library knows beforehand (social login, passkeys): the start records a
// token that binds the answer to the visitor (social login's random state,
// a passkey's WebAuthn transaction ID), and the finish runs one pipeline:
// prove the visitor, take the conversion lock, load the pending conversion
// of the method with the same token (compared in constant time), count the
// verification, drop the pending conversion (single use, whatever Descope
// answers), then the method's exchange. An exchange that signed the
// visitor in to some user ends in signedInAs.

// boundToken returns the token that binds the answer of p's method to the
// visitor that started it ("" for the methods bound by an address).
func (p pendingConversion) boundToken() string {
	switch p.method() {
	case methodOAuth:
		return p.State
	case methodPasskey:
		return p.Transaction
	}
	return ""
}

// finishBound is the finish of a method bound by a token: the visitor of r
// must have a pending conversion of method kind whose token is token; once
// that is checked and the verification counted, the pending conversion is
// dropped and exchange runs, under the conversion lock. perr is the error
// checking the answer's form gave (reported as the conversion's failure).
// w is the response exchange writes on: a finish that fails because a
// concurrent one converted the visitor takes the anonymous cookies off it
// (loserGuard).
func (m *Middleware) finishBound(w http.ResponseWriter, r *http.Request, kind, token string, perr error,
	exchange func(ctx context.Context, anon *User, rt refreshToken, p pendingConversion) (*User, error)) (_ *User, err error) {
	guard := m.loserGuard(w, r)
	defer func() { guard(err) }()
	ctx := withMethod(r.Context(), kind)
	defer m.conversionFailed(ctx, &err)
	if perr != nil {
		return nil, perr
	}
	ctx, anon, rt, unlock, err := m.lockVisitor(ctx, r, func(r *http.Request) (*User, refreshToken, error) { return m.convertible(r, false) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, ok, err := m.getPending(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return nil, ErrNoPendingConversion
	case p.method() != kind:
		return nil, fmt.Errorf("%w: the conversion was started by %s", ErrNoPendingConversion, methodName(p.method()))
	case subtle.ConstantTimeCompare([]byte(p.boundToken()), []byte(token)) != 1:
		return nil, fmt.Errorf("%w: the answer is of another start", ErrNoPendingConversion)
	}
	if err := m.takeVerifySlot(ctx, anon.ID, m.clientKey(r)); err != nil {
		return nil, err
	}
	// Single use: whatever Descope answers, this start is spent.
	m.dropPending(ctx, anon.ID)
	return exchange(ctx, anon, rt, p)
}

// checkedPair checks the token pair an exchange answered with (checkPair),
// revoking its refresh token when it does not pass, and reports the
// verified answer.
func (m *Middleware) checkedPair(ctx context.Context, info *descope.AuthenticationInfo) error {
	if err := m.checkPair(info); err != nil {
		if info != nil && info.RefreshToken != nil {
			m.revoke(ctx, info.RefreshToken.JWT)
		}
		return err
	}
	m.convEvent(ctx, Event{Kind: EventCodeVerified})
	return nil
}

// signedInAs ends a conversion in which Descope signed the visitor in to
// some user, info (a checked pair). Never a visitor's anonymous identity,
// this one's or another's: refused, its tokens revoked. A user the
// exchange created (Descope's firstSeen) is the visitor's new account: the
// OnConvert hook moves the data from the anonymous ID, and its tokens
// replace the anonymous ones. A user that existed already is a returning
// customer: signed in to it (signIn), or with [WithMerge] merged
// (switchTo), or with [WithReturningCustomers](false) and no merge refused
// with [ErrIdentifierInUse], its tokens revoked. The account itself is
// never changed.
func (m *Middleware) signedInAs(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, info *descope.AuthenticationInfo) (*User, error) {
	if info.SessionToken.ID == anon.ID || m.isAnonymous(info.SessionToken) {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, fmt.Errorf("%w: the answer signed in an anonymous user", ErrNoPendingConversion)
	}
	u := m.signedInUser(info)
	if !info.FirstSeen {
		// A returning customer, proved by the method.
		switch {
		case m.cfg.allowMerge:
			return m.switchTo(ctx, w, anon, rt, info)
		case m.cfg.noReturning:
			m.revoke(ctx, info.RefreshToken.JWT)
			return nil, ErrIdentifierInUse
		}
		// Signed in to it, as by a code ([WithReturningCustomers]).
		return m.signIn(ctx, w, anon, u, rt, info)
	}
	return m.handOver(ctx, w, anon, u, rt, info, OutcomeCreated)
}

// signedInUser is the user info signs in: its ID, session token and login
// IDs.
func (m *Middleware) signedInUser(info *descope.AuthenticationInfo) *User {
	u := &User{ID: info.SessionToken.ID, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if info.User != nil {
		u.LoginIDs = info.User.LoginIDs
	}
	return u
}

// methodOf returns the method ctx carries (withMethod).
func methodOf(ctx context.Context) string {
	kind, _ := ctx.Value(methodKey{}).(string)
	return kind
}
