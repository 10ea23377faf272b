package anonymous

import (
	"errors"
	"net/http"
	"time"
)

// Overflow: when the budget of the configured strategy is spent (the global
// limit, paced by takeGlobalSlot, or Descope's own user-create limit), a new
// visitor still gets an identity, of a kind that costs no user create: a
// local ID when keys are configured ([WithLocalKeys]), else a Descope-native
// anonymous token. With keys, a visitor whose mint failed because Descope
// could not be reached gets a local ID too. The visitor keeps it until it converts, when the OnConvert
// hook moves its data once, as for any native or local visitor.

// nativeGlobalLimit is the default global limit of native anonymous tokens
// per minute for the NativeTokens strategy: Descope allows backend SDKs
// 1,000 non-authentication calls in 10 s (docs.descope.com/rate-limiting).
const nativeGlobalLimit = 6000

// nativeOverflowBudget is the default budget of native tokens given as
// overflow identities: Descope's backend limit itself, 1,000 in 10 s, paced
// (90 a second), so no 10 s window holds more than 1,000.
var nativeOverflowBudget = budget{1000, 10 * time.Second}

// WithOverflow turns overflow identities on or off. With it on, a visitor
// who arrives while the strategy's budget is spent gets a local ID (with
// [WithLocalKeys]) or else a Descope-native anonymous token, instead of no
// identity; each counts against the per-client limit like any new identity.
// Such a visitor keeps that identity until it converts, when [WithOnConvert]'s
// hook moves its data from the overflow ID, exactly as for [NativeTokens] and
// [LocalIDs] visitors. It defaults to on for [UserBacked] and [NativeTokens]
// when an OnConvert hook is set, and to off without one: without a hook, an
// overflow visitor's data could not follow it to its account. Turning it on
// without a hook is an error.
func WithOverflow(on bool) Option {
	return func(c *config) error { c.overflow, c.overflowSet = on, true; return nil }
}

// WithOverflowRateLimit sets the global limit of overflow identities: at
// most n per period, paced like [WithGlobalRateLimit]; 0 lifts it. It
// bounds how fast a flood from many addresses can mint identities while the
// create budget is spent. Defaults to 60,000 a minute for local IDs and
// 1,000 in 10 s for native tokens, Descope's limit on backend SDKs'
// non-authentication calls (90 a second, paced).
func WithOverflowRateLimit(n int, per time.Duration) Option {
	return func(c *config) error {
		if n < 0 || n > 0 && per <= 0 {
			return errors.New("anonymous: overflow rate limit needs n >= 0 and a positive period")
		}
		c.overflowLimit = &budget{n, per}
		return nil
	}
}

var errOverflowNeedsHook = errors.New("anonymous: WithOverflow(true) needs WithOnConvert: an overflow visitor's data moves to its account through the hook")

// validateOverflow sets the overflow default and checks an explicit choice.
func (c *config) validateOverflow() error {
	if !c.overflowSet {
		c.overflow = c.onConvert != nil
	}
	if c.strategy == LocalIDs {
		c.overflow = false // nothing cheaper
	}
	if c.overflow && c.onConvert == nil {
		return errOverflowNeedsHook
	}
	return nil
}

// overflowKind returns the identity an overflow visitor of strategy gets:
// a local ID when keys are configured, else a native token; ok is false
// when there is nothing cheaper.
func (m *Middleware) overflowKind(strategy Strategy) (Strategy, bool) {
	switch {
	case m.local != nil:
		return LocalIDs, true
	case strategy == UserBacked:
		return NativeTokens, true
	}
	return 0, false
}

// provisionOverflow gives the visitor an overflow identity, for a
// provisioning of strategy refused because spent.
func (m *Middleware) provisionOverflow(w http.ResponseWriter, r *http.Request, strategy Strategy, spent *budgetSpent) (*User, error) {
	kind, ok := m.overflowKind(strategy)
	if !ok || spent.localOnly && kind != LocalIDs {
		return nil, spent
	}
	ctx := r.Context()
	if err := m.takeGlobalSlot(ctx, kind); err != nil {
		return nil, err
	}
	var u *User
	var err error
	if kind == LocalIDs {
		u, err = m.mintLocal(w, r, "overflow")
	} else {
		u, err = m.mintOverflowNative(w, r)
	}
	if err != nil {
		return nil, err
	}
	m.obs.emit(ctx, Event{Kind: EventOverflow, Reason: spent.reason, Strategy: kind, User: u})
	return u, nil
}

// mintOverflowNative provisions a native anonymous token for an overflow
// visitor: one call to Descope.
func (m *Middleware) mintOverflowNative(w http.ResponseWriter, r *http.Request) (*User, error) {
	ctx := r.Context()
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, err
	}
	cctx, cancel := m.callContext(ctx)
	defer cancel()
	session, refresh, err := m.mintNative(cctx, tenant)
	if err != nil {
		return nil, err
	}
	return m.provisioned(ctx, w, NativeTokens, "overflow", session, refresh, nil), nil
}
