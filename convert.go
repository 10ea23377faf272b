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
	if (isLocal(u) || isNative(u)) && m.retired(r.Context(), u.ID) {
		return refreshToken{}, fmt.Errorf("%w: this anonymous identity was converted or promoted", ErrNoSession)
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
// An address that is already another account's login ID gets no code and
// ErrIdentifierInUse, unless [WithMerge] is set: the code then signs in to that
// account. The codes sent are limited per visitor and per address
// ([ErrTooManyCodes]).
func (m *Middleware) StartConversion(r *http.Request, addr string) (_ string, err error) {
	m.obs.emit(r.Context(), Event{Kind: EventConversionStarted})
	defer m.conversionFailed(r.Context(), &err)
	a, err := parseAddress(addr)
	if err != nil {
		return "", err
	}
	u, rt, err := m.convertible(r, false)
	if err != nil {
		return "", err
	}
	dsr := rt.jwt
	ctx := context.WithoutCancel(r.Context())
	p := pendingConversion{Address: a.value, Phone: a.phone}
	if !isNative(u) && !isLocal(u) {
		// A native or local visitor has no user to merge: its code signs up or in,
		// which changes no account. A user-backed one must not take over
		// an account's login ID.
		owner, err := m.ownerOf(ctx, a)
		if err != nil {
			return "", err
		}
		if owner != "" && owner != u.ID {
			if !m.cfg.allowMerge {
				return "", ErrIdentifierInUse
			}
			p.ExistingID = owner
		}
	}
	release, err := m.takeCodeSlot(ctx, u.ID, a)
	if err != nil {
		return "", err
	}
	masked, err := m.sendCode(ctx, u, dsr, a, p)
	if err != nil {
		release()
		return "", err
	}
	if err := m.setPending(ctx, u.ID, p); err != nil {
		return "", err
	}
	m.obs.emit(ctx, Event{Kind: EventCodeSent})
	return masked, nil
}

// sendCode asks Descope to send the code: an update of the user's email or
// phone for a user-backed visitor, a sign-up-or-in code for a native one or
// for the existing account of a merge.
func (m *Middleware) sendCode(ctx context.Context, u *User, dsr string, a address, p pendingConversion) (string, error) {
	if isNative(u) || isLocal(u) || p.ExistingID != "" {
		masked, err := call(m, ctx, "otp.sign_up_or_in", func(ctx context.Context) (string, error) {
			return m.c.Auth.OTP().SignUpOrIn(ctx, a.method(), a.value, nil)
		})
		if err != nil {
			return "", m.codeFailure("send code", err)
		}
		return masked, nil
	}
	_, loginID, err := m.generatedLoginID(ctx, u.ID)
	if err != nil {
		return "", err
	}
	// OnMergeUseExisting: should the address become another account's login
	// ID before the code is verified (the checks before and after this call
	// make that a narrow race), Descope then keeps that account and merges
	// the anonymous user into it, instead of deleting it (Descope's default,
	// per its SDK docs: swift-sdk UpdateOptions.onMergeUseExisting,
	// flutter-sdk others.dart).
	opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: true}
	op := "otp.update_email"
	if a.phone {
		op = "otp.update_phone"
	}
	masked, err := call(m, ctx, op, func(ctx context.Context) (string, error) {
		sr, err := m.sdkRequest(ctx, dsr)
		if err != nil {
			return "", err
		}
		if a.phone {
			return m.c.Auth.OTP().UpdateUserPhone(ctx, descope.MethodSMS, loginID, a.value, opts, sr)
		}
		return m.c.Auth.OTP().UpdateUserEmail(ctx, loginID, a.value, opts, sr)
	})
	if err != nil {
		return "", m.codeFailure("send code", err)
	}
	return masked, nil
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
func (m *Middleware) FinishConversion(w http.ResponseWriter, r *http.Request, addr, code string) (_ *User, err error) {
	defer m.conversionFailed(r.Context(), &err)
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	anon, rt, err := m.convertible(r, false)
	if errors.Is(err, ErrNotAnonymous) {
		// Perhaps a conversion verified earlier whose session was refreshed
		// since: it may resume (checked against the profile below).
		if u, rrt, rerr := m.convertible(r, true); rerr == nil {
			anon, rt, err = u, rrt, nil
		}
	}
	if err != nil {
		return nil, err
	}
	// The steps run to their end even if the visitor goes away.
	ctx := context.WithoutCancel(r.Context())
	unlock, err := m.lockConversion(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, ok, err := m.getPending(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	if ok && p.Address != a.value {
		return nil, ErrNoPendingConversion
	}
	switch {
	case ok && p.ExistingID != "":
		return m.finishMerge(ctx, w, anon, rt, a, p, code)
	case isNative(anon), isLocal(anon):
		if !ok {
			return nil, ErrNoPendingConversion
		}
		return m.finishNative(ctx, w, anon, rt, a, code)
	}
	var pending *pendingConversion
	if ok {
		pending = &p
	}
	return m.finishUpdate(ctx, w, anon, rt, a, pending, code)
}

// finishNative verifies the code of a Descope-native or local visitor: the
// code, sent to the address by sign-up-or-in, signs the visitor up or in to
// the user that owns the address (no account is changed or deleted: the code
// proves the visitor owns it), the OnConvert hook moves the data from the
// anonymous ID, and that user's tokens replace the anonymous ones (and the
// local ID cookie).
func (m *Middleware) finishNative(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, code string) (*User, error) {
	code, err := cleanCode(code)
	if err != nil {
		return nil, err
	}
	info, err := m.verifyCode(ctx, a, a.value, code)
	if err != nil {
		return nil, err
	}
	u := &User{ID: info.SessionToken.ID, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if info.User != nil {
		u.LoginIDs = info.User.LoginIDs
	}
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, err
	}
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	if isLocal(anon) {
		m.clearLocal(w)
	}
	m.retire(ctx, anon, rt)
	m.retireID(ctx, anon.ID, rt.exp)
	m.cfg.logger.Info("anonymous visitor signed up", "anonymous", anon.ID, "user", u.ID)
	m.obs.emit(ctx, Event{Kind: EventConverted, User: u})
	return u, nil
}

// finishUpdate verifies the code of an email or phone update, and moves the
// user out of the anonymous tenant.
func (m *Middleware) finishUpdate(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, p *pendingConversion, code string) (*User, error) {
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, err
	}
	profile, loginID, err := m.generatedLoginID(ctx, anon.ID)
	if err != nil {
		return nil, err
	}
	if ownsVerified(profile, a) {
		if !rt.anonymous && !m.halfConverted(profile, loginID, tenant) {
			// Nothing left to finish: the user is converted and the
			// visitor's session is a regular one already. Minting another
			// pair here would let a stolen refresh token spawn a session
			// that outlives its revocation.
			return nil, ErrNotAnonymous
		}
		return m.resume(ctx, w, anon, rt, a, profile, loginID, tenant)
	}
	if p == nil {
		return nil, ErrNoPendingConversion
	}
	if !anon.Anonymous {
		return nil, ErrNotAnonymous
	}
	code, err = cleanCode(code)
	if err != nil {
		return nil, err
	}
	// Again right before the code: the address may have become another
	// account's since the code was sent.
	if owner, err := m.ownerOf(ctx, a); err != nil {
		return nil, err
	} else if owner != "" && owner != anon.ID {
		m.dropPending(ctx, anon.ID)
		return nil, ErrIdentifierInUse
	}
	info, err := m.verifyCode(ctx, a, loginID, code)
	if err != nil {
		return nil, err
	}
	m.revoke(ctx, info.RefreshToken.JWT) // tokens of the anonymous tenant: not handed out
	if info.SessionToken.ID != anon.ID || foreignLoginIDs(info.User, profile, a) != nil {
		return nil, m.descopeMerged(ctx, anon, info, profile, a, loginID, tenant)
	}
	if info.User != nil && !ownsVerified(info.User, a) {
		// Descope attached some other address than the one the code was
		// sent to: never issue tokens on that.
		return nil, fmt.Errorf("%w: descope verified another address", ErrNoPendingConversion)
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
	m.obs.emit(ctx, Event{Kind: EventResumed})
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
	if !m.cfg.dropLoginID {
		loginIDs = append(loginIDs, loginID)
	}
	u := &User{ID: anon.ID, LoginIDs: loginIDs, Anonymous: m.isAnonymous(info.SessionToken), token: info.SessionToken}
	if err := m.convertHook(ctx, anon.ID, u); err != nil {
		m.cfg.logger.Warn("convert hook failed after conversion", "user", u.ID, "err", err)
	}
	m.cfg.logger.Info("anonymous user converted", "user", u.ID)
	m.obs.emit(ctx, Event{Kind: EventConverted, User: u})
	return u, nil
}

// retire ends what the visitor held before a conversion: its refresh tokens
// are retired (retireRefresh), its session token leaves the cache, and the
// pending conversion is done.
func (m *Middleware) retire(ctx context.Context, anon *User, rt refreshToken) {
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

// verifyCode checks a one-time code for loginID and the tokens Descope
// answers with.
func (m *Middleware) verifyCode(ctx context.Context, a address, loginID, code string) (*descope.AuthenticationInfo, error) {
	info, err := call(m, ctx, "otp.verify", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return m.c.Auth.OTP().VerifyCode(ctx, a.method(), loginID, code, nil)
	})
	if err != nil {
		return nil, m.codeFailure("verify code", err)
	}
	if err := m.checkPair(info); err != nil {
		if info != nil && info.RefreshToken != nil {
			m.revoke(ctx, info.RefreshToken.JWT)
		}
		return nil, err
	}
	m.obs.emit(ctx, Event{Kind: EventCodeVerified})
	return info, nil
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

// cleanCode trims a one-time code and refuses an empty or oversized one.
func cleanCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 32 {
		return "", ErrInvalidCode
	}
	return code, nil
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
	// Not found is the answer of every ordinary conversion: no failure.
	p, err := callExpecting(m, ctx, "user.load", isUserNotFound, func(ctx context.Context) (*descope.UserResponse, error) {
		return m.c.Management.User().Load(ctx, a.value)
	})
	if err != nil {
		if isUserNotFound(err) {
			return "", nil
		}
		return "", m.descopeFailure("look up address", err)
	}
	if p == nil || !slices.ContainsFunc(p.LoginIDs, func(id string) bool { return strings.EqualFold(id, a.value) }) {
		return "", nil // found by user ID, or by an address that is no login ID
	}
	return p.UserID, nil
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
	for _, id := range p.LoginIDs {
		if m.cfg.isGenerated(id) {
			return p, id, nil
		}
	}
	if len(p.LoginIDs) == 0 {
		return nil, "", fmt.Errorf("anonymous: user %s has no login ID", userID)
	}
	return p, p.LoginIDs[0], nil
}

// codeFailure maps Descope's answers on one-time codes to sentinels.
func (m *Middleware) codeFailure(doing string, err error) error {
	switch {
	case descope.IsError(err, "E061103"):
		return wrap(ErrTooManyAttempts, err)
	case descope.IsError(err, descope.ErrInvalidOneTimeCode.Code):
		return wrap(ErrInvalidCode, err)
	case descope.IsError(err, descope.ErrUserAlreadyExists.Code):
		return wrap(ErrIdentifierInUse, err)
	case descope.IsError(err, descope.ErrRefreshToken.Code), descope.IsError(err, descope.ErrTokenExpiredByLoggedOut.Code):
		return wrap(ErrNoSession, err)
	case descope.IsError(err, descope.ErrInvalidArguments.Code),
		descope.IsError(err, descope.ErrBadRequest.Code, descope.ErrValidationFailure.Code) && statusOf(err) == http.StatusBadRequest:
		// The SDK's or Descope's own check of the address is stricter than ours.
		return wrap(ErrInvalidAddress, err)
	}
	return m.descopeFailure(doing, err)
}
