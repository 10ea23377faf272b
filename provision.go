package anonymous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/descope/go-sdk/descope"
)

// shouldProvision reports whether a request without a session may get a new
// anonymous identity.
func (m *Middleware) shouldProvision(r *http.Request) bool {
	if m.cfg.lazy {
		return m.skipped(r, "lazy")
	}
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return m.skipped(r, "method")
	}
	if r.Header.Get("Authorization") != "" {
		return m.skipped(r, "credentials") // an API client with credentials of its own kind: no cookies for it
	}
	if m.cfg.crawler != nil && m.cfg.crawler(r) {
		return m.skipped(r, "crawler")
	}
	if reason := notAVisit(r); reason != "" {
		return m.skipped(r, reason) // one identity per browser: subresource.go
	}
	return m.cfg.skip == nil || !m.cfg.skip(r) || m.skipped(r, "skip")
}

// provision gives the request's visitor a new anonymous identity and writes
// its cookies. When the configured strategy's budget is spent and overflow
// is on ([WithOverflow]), the visitor gets a cheaper identity instead.
func (m *Middleware) provision(w http.ResponseWriter, r *http.Request) (*User, error) {
	return m.provisionAs(w, r, m.cfg.strategy, m.cfg.overflow)
}

// provisionAs gives the visitor an identity of strategy: the per-client
// limit first (an overflow identity counts against it too), then the
// strategy's budget and its mint. With overflow, a spent budget (budgetSpent)
// gives the visitor an overflow identity instead of none.
func (m *Middleware) provisionAs(w http.ResponseWriter, r *http.Request, strategy Strategy, overflow bool) (*User, error) {
	ctx := r.Context()
	giveBack, err := m.takeClientSlot(ctx, m.clientKey(r))
	if err != nil {
		return nil, err
	}
	u, err := m.mintAs(w, r, strategy)
	var spent *budgetSpent
	if err == nil || !errors.As(err, &spent) {
		return u, err
	}
	if overflow {
		if u, oerr := m.provisionOverflow(w, r, strategy, spent); oerr == nil {
			return u, nil
		}
	}
	if !spent.called {
		giveBack() // nothing was asked of Descope for this client
	}
	m.obs.emit(ctx, Event{Kind: EventProvisionRefused, Reason: spent.reason, Err: spent.err})
	return nil, spent.err
}

// mintAs takes a slot of strategy's global budget and makes the identity.
// A spent budget is a *budgetSpent.
func (m *Middleware) mintAs(w http.ResponseWriter, r *http.Request, strategy Strategy) (*User, error) {
	ctx := r.Context()
	if strategy == LocalIDs {
		if err := m.takeGlobalSlot(ctx, LocalIDs); err != nil {
			return nil, err
		}
		return m.mintLocal(w, r, "")
	}
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, m.refusedProvision(ctx, err)
	}
	if strategy == UserBacked {
		if until := m.createPause(ctx); m.now().UnixNano() < until {
			return nil, &budgetSpent{reason: "create_paused", err: fmt.Errorf("%w: descope's user-create limit was hit; paused until %s",
				ErrRateLimited, time.Unix(0, until).UTC().Format(time.RFC3339))}
		}
	}
	if err := m.takeGlobalSlot(ctx, strategy); err != nil {
		return nil, err
	}
	// One bound for the whole mint: both calls of a user-backed one.
	ctx, cancel := m.callContext(ctx)
	defer cancel()
	var session, refresh *descope.Token
	var loginIDs []string
	if strategy == NativeTokens {
		session, refresh, err = m.mintNative(ctx, tenant)
	} else {
		var loginID string
		loginID, session, refresh, err = m.mintUser(ctx, tenant)
		loginIDs = []string{loginID}
	}
	if err != nil {
		switch {
		case descopeLimited(err):
			return nil, &budgetSpent{reason: "descope_limit", err: err, called: true}
		case errors.Is(err, ErrUnavailable) && m.local != nil:
			// A local ID costs no call: the visitor need not wait for
			// Descope to come back.
			return nil, &budgetSpent{reason: "unavailable", err: err, called: true, localOnly: true}
		}
		return nil, m.refusedProvision(ctx, err)
	}
	return m.provisioned(r.Context(), w, strategy, "", session, refresh, loginIDs), nil
}

// provisioned writes the cookies of a new Descope identity, caches its
// session, and reports it (reason: "" or "overflow").
func (m *Middleware) provisioned(ctx context.Context, w http.ResponseWriter, strategy Strategy, reason string, session, refresh *descope.Token, loginIDs []string) *User {
	u := newMintedUser(User{ID: session.ID, LoginIDs: loginIDs, Anonymous: true, New: true, token: session}, session.JWT, refresh.JWT, "")
	m.writeTokens(w, session, refresh)
	// The cache keeps what the token says, as for any session verified.
	m.cache.putIDs(session.JWT, u.ID, u.Anonymous, m.claimedLoginIDs(session), session.Expiration, m.now().Unix())
	m.cfg.logger.Debug("anonymous visitor provisioned", "user", u.ID, "strategy", strategy)
	m.obs.emit(ctx, Event{Kind: EventProvisioned, Strategy: strategy, Reason: reason, User: u})
	return u
}

// descopeLimited reports whether Descope refused a call with its rate limit.
func descopeLimited(err error) bool {
	return descope.IsError(err, descope.ErrRateLimitExceeded.Code) || statusOf(err) == http.StatusTooManyRequests
}

// mintUser creates an anonymous user in the tenant and signs it in: two calls
// to Descope, and no password is ever set.
func (m *Middleware) mintUser(ctx context.Context, tenant string) (string, *descope.Token, *descope.Token, error) {
	loginID := m.cfg.loginID()
	_, err := observe(m.obs, ctx, "user.create", func(ctx context.Context) (*descope.UserResponse, error) {
		return m.c.Management.User().Create(ctx, loginID, &descope.UserRequest{
			Tenants: []*descope.AssociatedTenant{{TenantID: tenant}},
		})
	})
	if err != nil {
		if statusOf(err) == http.StatusTooManyRequests {
			// Descope's limit is per project: stop asking for every visitor
			// until it has passed (Descope blocks for 60 s after a 429).
			m.pauseCreate(ctx, retryAfter(err, time.Minute))
		}
		return "", nil, nil, m.descopeFailure("create anonymous user", err)
	}
	info, err := observe(m.obs, ctx, "jwt.sign_in", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return m.c.Management.JWT().SignIn(ctx, loginID, &descope.MgmLoginOptions{
			RefreshDuration: int32(m.cfg.lifetime / time.Second),
		})
	})
	if err == nil && (info == nil || m.checkClaims(info.SessionToken, "DS") != nil || m.checkClaims(info.RefreshToken, "DSR") != nil) {
		err = fmt.Errorf("%w: sign-in returned unusable tokens", ErrInvalidToken)
	}
	if err != nil {
		// Do not leave a user nobody can sign in to; Cull would find it too.
		_, derr := call(m, ctx, "user.delete", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, m.c.Management.User().Delete(ctx, loginID)
		})
		if derr != nil {
			m.cfg.logger.Warn("delete of unfinished anonymous user failed", "loginId", loginID, "err", derr)
		}
		return "", nil, nil, m.descopeFailure("sign in anonymous user", err)
	}
	return loginID, info.SessionToken, info.RefreshToken, nil
}

// mintNative asks Descope for anonymous tokens with no user record: one
// call, with the anonymous tenant selected for its session settings.
func (m *Middleware) mintNative(ctx context.Context, tenant string) (*descope.Token, *descope.Token, error) {
	info, err := observe(m.obs, ctx, "jwt.anonymous", func(ctx context.Context) (*descope.AnonymousAuthenticationInfo, error) {
		return m.c.Management.JWT().Anonymous(ctx, nil, tenant, int32(m.cfg.lifetime/time.Second))
	})
	if err != nil {
		return nil, nil, m.descopeFailure("issue anonymous tokens", err)
	}
	if info == nil || m.checkClaims(info.SessionToken, "DS") != nil || m.checkClaims(info.RefreshToken, "DSR") != nil {
		return nil, nil, fmt.Errorf("%w: anonymous sign-in returned unusable tokens", ErrInvalidToken)
	}
	if danu, _ := info.SessionToken.Claims["danu"].(bool); !danu {
		return nil, nil, fmt.Errorf("%w: anonymous token without danu", ErrInvalidToken)
	}
	return info.SessionToken, info.RefreshToken, nil
}

// createPauseKey holds, in the store, until when Descope's user-create limit
// pauses provisioning, so that every replica waits it out.
const createPauseKey = "prov:paused"

// pauseCreate stops user creation for d, in this process and, through the
// store, on every replica.
func (m *Middleware) pauseCreate(ctx context.Context, d time.Duration) {
	until := m.now().Add(d).UnixNano()
	m.createPausedUntil.Store(until)
	_ = m.state.set(ctx, createPauseKey, strconv.AppendInt(nil, until, 10), d)
}

// createPause returns until when user creation is paused (unix nanoseconds;
// past or zero when it is not): this process's own pause, or one another
// replica stored.
func (m *Middleware) createPause(ctx context.Context) int64 {
	until := m.createPausedUntil.Load()
	if m.now().UnixNano() < until || !m.state.configured() {
		return until
	}
	if b, ok, err := m.state.get(ctx, createPauseKey); err == nil && ok {
		if shared, err := strconv.ParseInt(string(b), 10, 64); err == nil && shared > until {
			m.createPausedUntil.Store(shared)
			return shared
		}
	}
	return until
}
