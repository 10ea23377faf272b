package anonymous

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Limits on one-time codes, so the conversion flow cannot pump email or SMS
// and one attacker cannot lock a victim's address: a visitor may request at
// most maxCodesPerVisitor codes per codeWindow, and an address may be sent at
// most maxCodesPerAddress, a ceiling above what any one visitor can spend.
const (
	maxCodesPerVisitor = 5
	maxCodesPerAddress = 10
	codeWindow         = 10 * time.Minute
)

// Prefixes of the counters that count per client and per address: each is
// followed by a keyed hash of the client or the address (keyFor), never by
// the client or address itself.
const (
	clientCounterKey  = "prov:c:"
	addressCounterKey = "code:a:"
)

// windowKeys names the two counters of key at now. Every limit counts an
// event in two sets of fixed windows of length per, the second set half a
// period later than the first, and allows it only while both counters stay
// within the limit. A burst shorter than half a period lies whole within one
// window of one set, so no burst, however it is timed, gets more than the
// limit; with one set, a burst across a window's edge got twice as much.
// Steady use is unchanged: each set allows the limit per period.
func windowKeys(prefix, key string, per time.Duration, now time.Time) [2]string {
	n := now.UnixNano()
	// Both names in one allocation: a new visitor counts two limits.
	b := make([]byte, 0, 2*(len(prefix)+len(key))+3+2*13)
	b = strconv.AppendInt(append(append(append(b, prefix...), key...), '@'), n/int64(per), 36)
	first := len(b)
	b = strconv.AppendInt(append(append(append(b, prefix...), key...), "@~"...), (n+int64(per/2))/int64(per), 36)
	s := string(b)
	return [2]string{s[:first], s[first:]}
}

// take counts one event against key's counters (windowKeys) and reports
// whether it stays within limit. An event over the limit is not counted.
func (m *Middleware) take(ctx context.Context, prefix, key string, limit int, per time.Duration) (counters [2]string, ok bool) {
	counters = windowKeys(prefix, key, per, m.now())
	for i, c := range counters {
		if n, _ := m.state.incr(ctx, c, 1, per); n > int64(limit) {
			m.give(ctx, counters[:i+1], per)
			return counters, false
		}
	}
	return counters, true
}

// give returns an event counted by take, for work that did not happen.
func (m *Middleware) give(ctx context.Context, counters []string, per time.Duration) {
	for _, c := range counters {
		_, _ = m.state.incr(ctx, c, -1, per)
	}
}

// takeClientSlot takes one slot of the per-client provisioning limit and
// returns the function that gives it back.
func (m *Middleware) takeClientSlot(ctx context.Context, client string) (giveBack func(), err error) {
	l := m.cfg.clientLimit
	if l <= 0 {
		return func() {}, nil
	}
	c, ok := m.take(ctx, "", m.state.keys.keyFor(clientCounterKey, client), l, m.cfg.clientPer)
	if !ok {
		m.obs.emit(ctx, Event{Kind: EventProvisionRefused, Reason: "client_limit", Err: ErrRateLimited})
		return nil, fmt.Errorf("%w: per-client limit of %d per %v", ErrRateLimited, l, m.cfg.clientPer)
	}
	return func() { m.give(ctx, c[:], m.cfg.clientPer) }, nil
}

// budgetSpent is a provisioning refused because a budget shared by every
// visitor is spent (the global limit, Descope's user-create limit), as
// opposed to this client's own limit: the case for an overflow identity.
// called says whether Descope was asked.
//
// A mint that failed because Descope could not be reached is one too, for
// a local ID only (localOnly): it costs no call.
type budgetSpent struct {
	reason    string // the refused event's: "global_limit", "create_paused", "descope_limit", "unavailable"
	err       error
	called    bool
	localOnly bool
}

func (e *budgetSpent) Error() string { return e.err.Error() }
func (e *budgetSpent) Unwrap() error { return e.err }

// A global budget: limit identities per period.
type budget struct {
	limit int
	per   time.Duration
}

// Store keys of the global budgets, one per kind of identity.
const (
	globalKey       = "prov:g"
	globalNativeKey = "prov:gn"
	globalLocalKey  = "prov:gl"
)

// globalKey and globalLimit name the budget of strategy, the configured one
// for the configured strategy and the default of the other kinds for
// overflow identities.
func (m *Middleware) globalKey(s Strategy) string {
	switch {
	case s == m.cfg.strategy:
		return globalKey
	case s == NativeTokens:
		return globalNativeKey
	}
	return globalLocalKey
}

func (m *Middleware) globalLimit(s Strategy) budget {
	switch {
	case s == m.cfg.strategy:
		return budget{m.cfg.globalLimit, m.cfg.globalPer}
	case m.cfg.overflowLimit != nil:
		return *m.cfg.overflowLimit
	case s == NativeTokens:
		return nativeOverflowBudget
	}
	return budget{localGlobalLimit, time.Minute}
}

// paceSlices is how many slices a global budget's period is cut into, so
// that a burst spends only a slice's share and a visitor a few seconds later
// finds budget again.
const paceSlices = 10

// takeGlobalSlot takes one slot of the global budget of kind. With overflow
// on ([WithOverflow]), a budget that stands for a Descope limit (user
// creates, native tokens) is paced:
// the period is cut into paceSlices slices, each allowing
// limit/(paceSlices+1), so that no window of one period, wherever it starts
// (it overlaps at most paceSlices+1 slices), holds more than limit. A budget
// under 2*(paceSlices+1) is not paced, nor is the local IDs' one, a ceiling
// on churn that no Descope limit stands behind: one window of the whole
// period. Without overflow a visitor turned away by a slice would get no
// identity at all, so the whole period's budget may go to one burst, as a
// fixed window. A limit of zero is no limit.
func (m *Middleware) takeGlobalSlot(ctx context.Context, kind Strategy) error {
	key, b := m.globalKey(kind), m.globalLimit(kind)
	if b.limit <= 0 {
		return nil
	}
	limit, per := b.limit, b.per
	if m.cfg.overflow && kind != LocalIDs && limit >= 2*(paceSlices+1) {
		limit, per = limit/(paceSlices+1), per/paceSlices
	}
	if _, ok := m.take(ctx, key, "", limit, per); !ok {
		return &budgetSpent{reason: "global_limit", err: fmt.Errorf("%w: global limit of %d per %v", ErrRateLimited, b.limit, b.per)}
	}
	return nil
}

// ClientIP returns the host part of the request's remote address; it does
// not trust X-Forwarded-For, which any client can set. The default client key
// of the per-client provisioning limit is [ClientIP] with IPv6 addresses
// grouped by network ([WithIPv6Prefix]); a [WithClientKey] function behind a
// trusted proxy can start from the header the proxy sets instead.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey attributes a provisioning request to a client: the configured
// key function, or else the connection's address, with IPv6 addresses cut to
// their network prefix (a /64 by default), since one host commonly holds a
// whole /64 and could otherwise spend the global limit alone.
func (m *Middleware) clientKey(r *http.Request) string {
	if m.cfg.clientKey != nil {
		return m.cfg.clientKey(r)
	}
	return clientNetwork(ClientIP(r), m.cfg.ipv6PrefixBits)
}

// clientNetwork returns ip unchanged for IPv4, and its network of the given
// prefix length for IPv6.
func clientNetwork(ip string, bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() || bits >= 128 {
		return ip
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}
