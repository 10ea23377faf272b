package anonymous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// convertible returns the request's user and its refresh token if the user
// may be converted: a session of this middleware, not Degraded, on a request
// that proves it is the visitor's own (visitorProof). With resume, a user
// that is no longer anonymous passes too; [Middleware.FinishConversion] then lets it
// through only to finish a conversion whose address is already verified.
func (m *Middleware) convertible(r *http.Request, resume bool) (*User, refreshToken, error) {
	u, ok := FromContext(r.Context())
	if !ok {
		return nil, refreshToken{}, ErrNoSession
	}
	if u.Degraded {
		return nil, refreshToken{}, ErrUnavailable
	}
	if !u.Anonymous && !resume {
		return nil, refreshToken{}, ErrNotAnonymous
	}
	rt, err := m.visitorProof(r, u)
	if err != nil {
		return nil, refreshToken{}, err
	}
	return u, rt, nil
}

// resumable is convertible for a finish: a user no longer anonymous passes
// too when it may be a conversion verified earlier (whose session was
// refreshed since, or completed half-way), which the caller checks against
// the profile before it resumes anything.
func (m *Middleware) resumable(r *http.Request) (*User, refreshToken, error) {
	u, rt, err := m.convertible(r, false)
	if errors.Is(err, ErrNotAnonymous) {
		if ru, rrt, rerr := m.convertible(r, true); rerr == nil {
			return ru, rrt, nil
		}
	}
	return u, rt, err
}

// visitorProof checks that r is the request of the visitor u itself, before a
// conversion or promotion changes anything: a local visitor's request carries
// its local ID cookie (localProof), any other's a refresh cookie of the same
// user that verifies locally (refreshProof), which is returned. An identity
// already converted or promoted proves nothing.
func (m *Middleware) visitorProof(r *http.Request, u *User) (rt refreshToken, err error) {
	if isLocal(u) {
		rt.anonymous = true
		rt.exp, err = m.localProof(r, u)
	} else {
		rt, err = m.refreshProof(r, u)
	}
	if err != nil {
		return refreshToken{}, err
	}
	// Only native and local identities are retired (retireID): a user-backed
	// one keeps its ID, and costs no store call here.
	if isLocal(u) || isNative(u) {
		if err := m.notRetired(r.Context(), u.ID); err != nil {
			return refreshToken{}, err
		}
	}
	return rt, nil
}

// refreshProof checks that r carries a refresh cookie of u, and returns the
// refresh token in force for u, verified locally: the cookie, or, when u's
// session was refreshed on r and Descope rotated the cookie out, the token
// that replaced it (refreshInForce), which the middleware has just written;
// or, when a parallel request of the visitor has rotated that one out since,
// the token it rotated in (newestHeld). A visitor provisioned on r holds no
// cookie yet: the refresh token it was given, which the middleware has just
// written, is its proof (mintedInForce).
func (m *Middleware) refreshProof(r *http.Request, u *User) (refreshToken, error) {
	dsr, dup := cookieValue(r, m.cfg.refreshCookie)
	if dup {
		return refreshToken{}, ErrDuplicateCookie
	}
	var proof refreshToken
	if held, ok := refreshInForce(u); ok && held != dsr {
		proof.rotatedOut = []string{dsr}
		dsr = held
	} else if f, ok := mintedInForce(u); ok && f.refresh != "" {
		dsr = f.refresh // minted on r: its cookie is on the response, whatever r carried
	}
	if dsr == "" {
		return refreshToken{}, fmt.Errorf("%w: no refresh cookie", ErrNoSession)
	}
	rt, err := m.verify(r.Context(), dsr, "DSR")
	if err != nil {
		return refreshToken{}, err
	}
	if rt.ID != u.ID {
		return refreshToken{}, fmt.Errorf("%w: refresh token of another user", ErrInvalidToken)
	}
	proof.jwt, proof.anonymous, proof.exp = dsr, rt.Anonymous, rt.Token().Expiration
	return m.newestHeld(r.Context(), u.ID, proof), nil
}

// refreshToken is a visitor's locally verified refresh token in force (or,
// for a local visitor, its local ID cookie); anonymous says whether it was
// issued while the user was anonymous, exp when it stops proving anything.
// rotatedOut are the visitor's refresh tokens that a refresh on this request
// replaced (the cookie the request carried, the token resume spent): dead at
// Descope, and never presented to it again, which could be taken for reuse.
type refreshToken struct {
	jwt        string
	anonymous  bool
	exp        int64
	rotatedOut []string
}

// rotated returns rt after a refresh of rt.jwt that Descope answered with
// next, a new refresh token.
func (rt refreshToken) rotated(next string) refreshToken {
	rt.rotatedOut = append(slices.Clip(rt.rotatedOut), rt.jwt)
	rt.jwt = next
	return rt
}

// StartConversion sends a one-time code to addr (an email address or an E.164
// phone number) for the anonymous user of r, and returns the masked address
// Descope reports. r must have passed through the middleware and carry the
// visitor's refresh cookie (or, for a local visitor, its local ID cookie);
// once Descope is asked, the call runs to its end (each step bounded by
// WithTimeout) even if r's context is cancelled. Nothing changes on the user until
// FinishConversion verifies the code, and only for this address.
//
// An address that is already another account's login ID gets a sign-in code
// for that account, answered as any other start, so the answer does not
// reveal that the address is registered: FinishConversion then signs the
// returning customer in to it ([WithMerge], [WithReturningCustomers]; with
// WithReturningCustomers(false) and no WithMerge, such an address gets no
// code and ErrIdentifierInUse). The codes sent are limited per visitor and per address, and the
// starts that reach Descope per visitor and per client
// ([WithConversionClientLimit]), all counted before Descope is asked
// anything ([ErrTooManyCodes]). With a store ([WithStore]) that does not
// answer, it fails with ErrUnavailable before any call.
func (m *Middleware) StartConversion(r *http.Request, addr string) (string, error) {
	a, err := parseAddress(addr)
	return m.start(r, a, err, otpMethod{})
}

// start is the first half of every conversion method: it proves the visitor,
// counts the limits, checks who owns the address, has the method send its
// challenge, and records the pending conversion (with the method). perr is
// the error parsing the address gave.
func (m *Middleware) start(r *http.Request, a address, perr error, mt method) (_ string, err error) {
	ctx := withMethod(r.Context(), mt.kind())
	m.convEvent(ctx, Event{Kind: EventConversionStarted})
	defer m.conversionFailed(ctx, &err)
	if perr != nil {
		return "", perr
	}
	u, rt, err := m.convertible(r, false)
	if err != nil {
		return "", err
	}
	dsr := rt.jwt
	ctx = context.WithoutCancel(ctx)
	// What an earlier start learned of the user is not loaded again.
	prev, _, err := m.getPending(ctx, u.ID)
	if err != nil {
		return "", err
	}
	// Every limit is counted before Descope is asked anything.
	release, err := m.takeStartSlot(ctx, u.ID, m.clientKey(r), a)
	if err != nil {
		return "", err
	}
	p := pendingConversion{Address: a.value, Phone: a.phone}
	if k := mt.kind(); k != methodOTP {
		p.Method = k // an OTP record stays as it always was, for replicas that know no methods
	}
	masked, err := m.startCode(ctx, u, dsr, a, &p, prev, mt)
	if err != nil {
		release()
		return "", err
	}
	if err := m.setPending(ctx, u.ID, p); err != nil {
		return "", err
	}
	m.convEvent(ctx, Event{Kind: EventCodeSent})
	return masked, nil
}

// startCode checks who owns the address and has the method send its
// challenge, noting in p what the verification needs; prev is the
// visitor's pending conversion before this start (zero if none).
func (m *Middleware) startCode(ctx context.Context, u *User, dsr string, a address, p *pendingConversion, prev pendingConversion, mt method) (string, error) {
	if !isNative(u) && !isLocal(u) {
		// A native or local visitor has no user to merge: its code signs up or in,
		// which changes no account. A user-backed one must not take over
		// an account's login ID.
		owner, err := m.ownerOf(ctx, a)
		if err != nil {
			return "", err
		}
		if owner != "" && owner != u.ID {
			if m.cfg.noReturning && !m.cfg.allowMerge {
				return "", ErrIdentifierInUse
			}
			// A returning customer: a sign-in code for its account, the
			// same answer as for a new address.
			p.ExistingID = owner
		}
	}
	if !isNative(u) && !isLocal(u) && p.ExistingID == "" {
		p.LoginID, p.LoginIDs = prev.LoginID, prev.LoginIDs
		if p.LoginID == "" {
			profile, loginID, err := m.generatedLoginID(ctx, u.ID)
			if err != nil {
				return "", err
			}
			p.LoginID, p.LoginIDs = loginID, profile.LoginIDs
		}
	}
	return mt.send(ctx, m, u, dsr, a, *p)
}

// FinishConversion verifies the code that [Middleware.StartConversion] sent to addr. On
// success the same user ID is now a regular user with addr as a verified login
// ID, and w carries a fresh session and refresh cookie pair. The returned user
// is the converted one (or, after a merge, the existing one).
//
// The code verifies only the address it was sent to (ErrNoPendingConversion
// otherwise), and the new tokens are issued for the verified user ID. A
// conversion that verified the code but failed half-way (Descope went away)
// is finished by calling [Middleware.FinishConversion] again with the same address: no
// code is needed once the address is a verified login ID of the user, but
// the visitor's refresh token must still be live at Descope (one refresh
// call proves it), so a revoked session cannot come back this way.
//
// Every refresh token of the anonymous visitor is retired: the one in force
// is revoked at Descope. When refresh tokens rotate (a Descope project
// setting), that is not always r's cookie: a session that expired is
// refreshed on the way in, and Descope answers with a new refresh token
// (written in the response's first Set-Cookie) and revokes the cookie at
// once; a parallel request of the visitor may have done the same a moment
// ago, on any replica sharing the store. Conversion, promotion and
// [Middleware.Logout] then prove the visitor with, and revoke, the token
// that replaced the cookie, and never present the rotated-out cookie to
// Descope again, which it may take for reuse of a stolen token and answer
// by revoking the whole session.
//
// A finish of any method that fails because a concurrent request of the
// visitor (a double submit, on any replica sharing the store) converted it
// takes the identity cookies the middleware wrote on w for r (a refresh on
// the way in, or a visitor provisioned because its refresh cookie was
// revoked) off w, so that a browser that processes its answer after the
// winner's keeps the winner's cookies; one that found the conversion under
// way ([ErrConversionInProgress]) waits for its outcome first. A finish
// that fails for any other reason leaves them.
//
// The verifications that reach Descope are limited per visitor and per
// client, counted before any call, and once Descope has locked the code
// after wrong attempts, the next ones get [ErrTooManyAttempts] without a call
// until a new code is sent. With a store ([WithStore]) that does not answer,
// it fails with ErrUnavailable before any call.
func (m *Middleware) FinishConversion(w http.ResponseWriter, r *http.Request, addr, code string) (*User, error) {
	a, err := parseAddress(addr)
	return m.finish(w, r, &a, err, otpMethod{}, code)
}

// finish is the second half of every conversion method: prove the visitor
// (or, resuming, the user it became), take the lock, load the pending
// conversion (same method, same address), count the limits, then the
// ending the pending conversion calls for, in which the method's verify of
// answer is the only step of its own. addr is the address the visitor
// names (nil: the one pending), perr the error parsing it gave.
func (m *Middleware) finish(w http.ResponseWriter, r *http.Request, addr *address, perr error, mt method, answer string) (_ *User, err error) {
	guard := m.loserGuard(w, r)
	defer func() { guard(err) }()
	ctx := withMethod(r.Context(), mt.kind())
	defer m.conversionFailed(ctx, &err)
	if perr != nil {
		return nil, perr
	}
	ctx, anon, rt, unlock, err := m.lockVisitor(ctx, r, m.resumable)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, ok, err := m.getPending(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	var a address
	switch {
	case addr != nil:
		a = *addr
	case ok:
		a = address{value: p.Address, phone: p.Phone}
	}
	switch {
	case ok && p.method() != mt.kind():
		return nil, fmt.Errorf("%w: the conversion was started by %s", ErrNoPendingConversion, methodName(p.method()))
	case ok && p.Address != a.value, !ok && (addr == nil || isNative(anon) || isLocal(anon)):
		return nil, ErrNoPendingConversion
	case ok && p.Locked:
		return nil, fmt.Errorf("%w: the code is locked after too many wrong attempts; start again for a new one", ErrTooManyAttempts)
	}
	// Every limit is counted before Descope is asked anything.
	if err := m.takeVerifySlot(ctx, anon.ID, m.clientKey(r)); err != nil {
		return nil, err
	}
	u, err := m.finishPending(ctx, w, anon, rt, a, p, ok, mt, answer)
	if ok && codeLocked(err) {
		// Descope answers so until a new code is sent: no need to ask again.
		p.Locked = true
		if serr := m.setPending(ctx, anon.ID, p); serr != nil {
			m.cfg.logger.Warn("locked code not noted", "user", anon.ID, "err", serr)
		}
	}
	return u, err
}

// lockVisitor is the first step every finish shares: prove the visitor of
// r (prove: convertible, or resumable where a half-done conversion may be
// resumed) and take its conversion lock. The context it returns lets the
// steps run to their end even if the visitor goes away; unlock releases
// the lock.
func (m *Middleware) lockVisitor(ctx context.Context, r *http.Request, prove func(*http.Request) (*User, refreshToken, error)) (context.Context, *User, refreshToken, func(), error) {
	anon, rt, err := prove(r)
	if err != nil {
		return ctx, nil, refreshToken{}, nil, err
	}
	ctx = context.WithoutCancel(ctx)
	unlock, err := m.lockConversion(ctx, anon.ID)
	if err != nil {
		return ctx, nil, refreshToken{}, nil, err
	}
	return ctx, anon, rt, unlock, nil
}

// finishPending finishes the conversion the way it was started: the
// pending conversion p (if ok) says how.
func (m *Middleware) finishPending(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, p pendingConversion, ok bool, mt method, answer string) (*User, error) {
	switch {
	case ok && p.ExistingID != "":
		return m.finishMerge(ctx, w, anon, rt, a, p, mt, answer)
	case isNative(anon), isLocal(anon):
		return m.finishNative(ctx, w, anon, rt, a, mt, answer)
	}
	var pending *pendingConversion
	if ok {
		pending = &p
	}
	return m.finishUpdate(ctx, w, anon, rt, a, pending, mt, answer)
}

// finishNative verifies the code of a Descope-native or local visitor: the
// code, sent to the address by sign-up-or-in, signs the visitor up or in to
// the user that owns the address (no account is changed or deleted: the code
// proves the visitor owns it), and the conversion ends as every method's
// sign-in by Descope does (signedInAs): a new user gets the data by
// OnConvert; a returning customer's account by OnConvert, or by the merge
// hook with [WithMerge], or is refused with [WithReturningCustomers](false).
func (m *Middleware) finishNative(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, mt method, answer string) (*User, error) {
	answer, err := mt.clean(answer)
	if err != nil {
		return nil, err
	}
	info, err := mt.verify(ctx, m, a, a.value, answer)
	if err != nil {
		return nil, err
	}
	if err := mt.bind(info, a, "", a.value); err != nil {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, err
	}
	// A new address created a user; a registered one signed in to its
	// account: a returning customer, as by any method.
	return m.signedInAs(ctx, w, anon, rt, info)
}

// finishUpdate verifies the code of an email or phone update, and moves the
// user out of the anonymous tenant. A code that fails costs two calls: who
// owns the address, and the code; what else the steps need, start noted in
// p.
func (m *Middleware) finishUpdate(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, p *pendingConversion, mt method, answer string) (*User, error) {
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, err
	}
	// Right before the code: who owns the address now. It may have become
	// another account's since the code was sent; when it is this user's,
	// that is the user's profile, and the address is verified already.
	owner, err := m.owner(ctx, a)
	if err != nil {
		return nil, err
	}
	mine := owner != nil && owner.UserID == anon.ID
	if mine && ownsVerified(owner, a) {
		loginID := generatedIn(owner, m.cfg.isGenerated)
		if !rt.anonymous && !m.halfConverted(owner, loginID, tenant) {
			// Nothing left to finish: the user is converted and the
			// visitor's session is a regular one already. Minting another
			// pair here would let a stolen refresh token spawn a session
			// that outlives its revocation.
			return nil, ErrNotAnonymous
		}
		return m.resume(ctx, w, anon, rt, a, owner, loginID, tenant)
	}
	if p == nil {
		return nil, ErrNoPendingConversion
	}
	if !anon.Anonymous {
		return nil, ErrNotAnonymous
	}
	if owner != nil && !mine {
		m.dropPending(ctx, anon.ID)
		return nil, ErrIdentifierInUse
	}
	answer, err = mt.clean(answer)
	if err != nil {
		return nil, err
	}
	loginID, before := p.LoginID, &descope.UserResponse{LoginIDs: p.LoginIDs}
	if loginID == "" {
		// A pending conversion recorded without them.
		if before, loginID, err = m.generatedLoginID(ctx, anon.ID); err != nil {
			return nil, err
		}
	}
	info, err := mt.verify(ctx, m, a, loginID, answer)
	if err != nil {
		return nil, err
	}
	m.revoke(ctx, info.RefreshToken.JWT) // tokens of the anonymous tenant: not handed out
	if err := mt.bind(info, a, anon.ID, loginID); err != nil {
		return nil, err
	}
	if info.SessionToken.ID != anon.ID || foreignLoginIDs(info.User, before, a) != nil {
		return nil, m.descopeMerged(ctx, anon, info, before, a, loginID, tenant)
	}
	if info.User != nil && !ownsVerified(info.User, a) {
		// Descope attached some other address than the one the code was
		// sent to: never issue tokens on that.
		return nil, fmt.Errorf("%w: descope verified another address", ErrNoPendingConversion)
	}
	// The profile as the verification left it, for the steps that remain.
	// Should this fail, the next verify resumes.
	profile, _, err := m.generatedLoginID(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	return m.complete(ctx, w, anon, rt, a, profile, loginID, tenant)
}

// halfConverted reports whether a user whose address is verified still has
// a conversion step left: membership of the anonymous tenant, or the
// generated login ID that conversion drops.
func (m *Middleware) halfConverted(p *descope.UserResponse, loginID, tenant string) bool {
	inTenant := slices.ContainsFunc(p.UserTenants, func(t *descope.UserResponseAssociatedTenant) bool { return t.TenantID == tenant })
	keepsGenerated := m.cfg.dropLoginID && m.cfg.isGenerated(loginID) && slices.Contains(p.LoginIDs, loginID)
	return inTenant || keepsGenerated
}

// resume finishes a conversion whose address is already a verified login ID
// of the user. It needs no code, but it proves with a refresh call that the
// visitor's refresh token is still live at Descope: a revoked or logged-out
// session gets [ErrNoSession].
func (m *Middleware) resume(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, profile *descope.UserResponse, loginID, tenant string) (*User, error) {
	res, err := m.callRefresh(ctx, rt.jwt)
	if err != nil {
		if isTransient(err) {
			return nil, m.descopeFailure("check session", err)
		}
		return nil, fmt.Errorf("%w: refresh token no longer valid", ErrNoSession)
	}
	if res.session.ID != anon.ID {
		return nil, fmt.Errorf("%w: refresh token of another user", ErrInvalidToken)
	}
	if res.refresh != nil {
		rt = rt.rotated(res.refresh.JWT)
	}
	m.cfg.logger.Info("resuming conversion", "user", anon.ID)
	m.convEvent(ctx, Event{Kind: EventResumed})
	return m.complete(ctx, w, anon, rt, a, profile, loginID, tenant)
}

// complete moves a user whose address is verified out of the anonymous
// tenant, drops its generated login ID, and replaces the visitor's tokens
// with a fresh pair issued for that user ID. Each step is idempotent, so a
// conversion that failed half-way can be finished again.
func (m *Middleware) complete(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, profile *descope.UserResponse, loginID, tenant string) (*User, error) {
	if slices.ContainsFunc(profile.UserTenants, func(t *descope.UserResponseAssociatedTenant) bool { return t.TenantID == tenant }) {
		_, err := call(m, ctx, "user.remove_tenant", func(ctx context.Context) (*descope.UserResponse, error) {
			return m.c.Management.User().RemoveTenant(ctx, anon.ID, tenant)
		})
		if err != nil {
			return nil, m.descopeFailure("leave anonymous tenant", err)
		}
	}
	if m.cfg.dropLoginID && m.cfg.isGenerated(loginID) && slices.Contains(profile.LoginIDs, loginID) {
		_, err := call(m, ctx, "user.update_login_id", func(ctx context.Context) (*descope.UserResponse, error) {
			return m.c.Management.User().UpdateLoginID(ctx, loginID, "")
		})
		if err != nil {
			return nil, m.descopeFailure("drop generated login ID", err)
		}
	}
	info, err := call(m, ctx, "jwt.sign_in", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return m.c.Management.JWT().SignIn(ctx, a.value, nil)
	})
	if err != nil {
		return nil, m.descopeFailure("issue regular tokens", err)
	}
	if err := m.checkPair(info); err != nil {
		return nil, err
	}
	if info.SessionToken.ID != anon.ID {
		// Tokens are only ever issued for the user ID that was verified.
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, fmt.Errorf("%w: sign-in returned another user", ErrInvalidToken)
	}
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.retire(ctx, anon, rt)
	loginIDs := []string{a.value}
	if !m.cfg.dropLoginID && loginID != a.value && slices.Contains(profile.LoginIDs, loginID) {
		// Kept ([WithKeepLoginID]); a passkey conversion renames it.
		loginIDs = append(loginIDs, loginID)
	}
	u := &User{ID: anon.ID, LoginIDs: loginIDs, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.cfg.logger.Warn("convert hook failed after conversion", "user", u.ID, "err", err)
	}
	m.cfg.logger.Info("anonymous user converted", "user", u.ID)
	setOutcome(ctx, OutcomeConverted)
	m.convEvent(ctx, Event{Kind: EventConverted, User: u})
	return u, nil
}

// retire ends what the visitor held before a conversion: its refresh tokens
// are retired (retireRefresh), its session token leaves the cache, the
// pending conversion is done, and the conversion is noted for a duplicate
// of the finish that comes after (noteConverted).
func (m *Middleware) retire(ctx context.Context, anon *User, rt refreshToken) {
	m.noteConverted(ctx, anon.ID)
	m.retireRefresh(ctx, anon.ID, rt)
	m.dropSession(anon)
	m.dropPending(ctx, anon.ID)
}

// retireRefresh revokes the refresh token in force for user userID at
// Descope (the newest: a parallel request may have rotated it since the
// proof) and forgets the refreshes remembered for it and for the tokens
// rotated out, which are not presented to Descope again: rotation has
// revoked them, and presenting one could be taken for reuse.
func (m *Middleware) retireRefresh(ctx context.Context, userID string, rt refreshToken) {
	if rt.jwt != "" {
		rt = m.newestHeld(ctx, userID, rt)
		m.revoke(ctx, rt.jwt)
		m.refreshes.forget(rt.jwt)
	}
	for _, t := range rt.rotatedOut {
		m.refreshes.forget(t)
	}
}

// convertHook calls the OnConvert hook, if any.
func (m *Middleware) convertHook(ctx context.Context, anonymousID string, u *User) error {
	if m.cfg.onConvert == nil {
		return nil
	}
	if err := m.cfg.onConvert(ctx, anonymousID, u); err != nil {
		return during("convert hook", err)
	}
	return nil
}

// checkPair checks the session and refresh token Descope issued.
func (m *Middleware) checkPair(info *descope.AuthenticationInfo) error {
	if info == nil || info.SessionToken == nil || info.RefreshToken == nil {
		return fmt.Errorf("anonymous: %w", descope.ErrUnexpectedResponse)
	}
	if err := m.checkClaims(info.SessionToken, "DS"); err != nil {
		return err
	}
	if err := m.checkClaims(info.RefreshToken, "DSR"); err != nil {
		return err
	}
	if info.SessionToken.ID != info.RefreshToken.ID {
		return fmt.Errorf("%w: session and refresh token of different users", ErrInvalidToken)
	}
	return nil
}

// ownsVerified reports whether the profile has a as a verified login ID.
func ownsVerified(p *descope.UserResponse, a address) bool {
	if p == nil || !slices.ContainsFunc(p.LoginIDs, func(id string) bool { return strings.EqualFold(id, a.value) }) {
		return false
	}
	if a.phone {
		return p.VerifiedPhone && p.Phone == a.value
	}
	return p.VerifiedEmail && strings.EqualFold(p.Email, a.value)
}

// ownerOf returns the ID of the user whose login ID is a, or "" if none.
func (m *Middleware) ownerOf(ctx context.Context, a address) (string, error) {
	p, err := m.owner(ctx, a)
	if err != nil || p == nil {
		return "", err
	}
	return p.UserID, nil
}

// owner returns the profile of the user whose login ID is a, or nil if
// none: one user load. Not found is the answer of every ordinary
// conversion: no failure in any event or metric.
func (m *Middleware) owner(ctx context.Context, a address) (*descope.UserResponse, error) {
	p, err := callExpecting(m, ctx, "user.load", isUserNotFound, func(ctx context.Context) (*descope.UserResponse, error) {
		return m.c.Management.User().Load(ctx, a.value)
	})
	if err != nil {
		if isUserNotFound(err) {
			return nil, nil
		}
		return nil, m.descopeFailure("look up address", err)
	}
	if p == nil || !slices.ContainsFunc(p.LoginIDs, func(id string) bool { return strings.EqualFold(id, a.value) }) {
		return nil, nil // found by user ID, or by an address that is no login ID
	}
	return p, nil
}

// isUserNotFound reports whether Descope answered that no such user exists.
func isUserNotFound(err error) bool {
	return descope.IsError(err, "E112102", "E062108") || descope.IsNotFoundError(err)
}

// generatedLoginID loads the user and returns its generated login ID.
func (m *Middleware) generatedLoginID(ctx context.Context, userID string) (*descope.UserResponse, string, error) {
	p, err := call(m, ctx, "user.load", func(ctx context.Context) (*descope.UserResponse, error) {
		return m.c.Management.User().Load(ctx, userID)
	})
	if err != nil {
		return nil, "", m.descopeFailure("load user", err)
	}
	if len(p.LoginIDs) == 0 {
		return nil, "", fmt.Errorf("anonymous: user %s has no login ID", userID)
	}
	return p, generatedIn(p, m.cfg.isGenerated), nil
}

// generatedIn returns the generated login ID of the profile p, or else its
// first login ID ("" if it has none).
func generatedIn(p *descope.UserResponse, isGenerated func(string) bool) string {
	for _, id := range p.LoginIDs {
		if isGenerated(id) {
			return id
		}
	}
	if len(p.LoginIDs) == 0 {
		return ""
	}
	return p.LoginIDs[0]
}
