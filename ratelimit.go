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

// windowKey names the counter of key in the fixed window of length per that
// holds now.
func windowKey(prefix, key string, per time.Duration, now time.Time) string {
	return prefix + key + "@" + strconv.FormatInt(now.UnixNano()/int64(per), 36)
}

// take counts one event against the window counter of key and reports
// whether it stays within limit. An event over the limit is not counted.
func (m *Middleware) take(ctx context.Context, prefix, key string, limit int, per time.Duration) (counter string, ok bool) {
	counter = windowKey(prefix, key, per, m.now())
	n, _ := m.state.incr(ctx, counter, 1, per)
	if n > int64(limit) {
		_, _ = m.state.incr(ctx, counter, -1, per)
		return counter, false
	}
	return counter, true
}

// give returns an event counted by take, for work that did not happen.
func (m *Middleware) give(ctx context.Context, counter string, per time.Duration) {
	_, _ = m.state.incr(ctx, counter, -1, per)
}

// takeProvisionSlot takes one slot from the per-client and from the global
// provisioning limit, or from neither.
func (m *Middleware) takeProvisionSlot(ctx context.Context, client string) error {
	var clientCounter string
	if l := m.cfg.clientLimit; l > 0 {
		c, ok := m.take(ctx, "", m.state.keys.keyFor(clientCounterKey, client), l, m.cfg.clientPer)
		if !ok {
			m.obs.emit(ctx, Event{Kind: EventProvisionRefused, Reason: "client_limit", Err: ErrRateLimited})
			return fmt.Errorf("%w: per-client limit of %d per %v", ErrRateLimited, l, m.cfg.clientPer)
		}
		clientCounter = c
	}
	if l := m.cfg.globalLimit; l > 0 {
		if _, ok := m.take(ctx, "prov:g", "", l, m.cfg.globalPer); !ok {
			if clientCounter != "" {
				m.give(ctx, clientCounter, m.cfg.clientPer)
			}
			m.obs.emit(ctx, Event{Kind: EventProvisionRefused, Reason: "global_limit", Err: ErrRateLimited})
			return fmt.Errorf("%w: global limit of %d per %v", ErrRateLimited, l, m.cfg.globalPer)
		}
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

// takeCodeSlot counts a one-time code about to be sent to a for the visitor
// userID. It returns a function that gives the slot back, for a code that was
// not sent after all.
func (m *Middleware) takeCodeSlot(ctx context.Context, userID string, a address) (release func(), err error) {
	byVisitor, ok := m.take(ctx, "code:u:", userID, maxCodesPerVisitor, codeWindow)
	if !ok {
		return nil, fmt.Errorf("%w: at most %d codes per visitor in %v", ErrTooManyCodes, maxCodesPerVisitor, codeWindow)
	}
	byAddress, ok := m.take(ctx, "", m.state.keys.keyFor(addressCounterKey, a.limitKey()), maxCodesPerAddress, codeWindow)
	if !ok {
		m.give(ctx, byVisitor, codeWindow)
		return nil, fmt.Errorf("%w: at most %d codes per address in %v", ErrTooManyCodes, maxCodesPerAddress, codeWindow)
	}
	return func() {
		m.give(ctx, byVisitor, codeWindow)
		m.give(ctx, byAddress, codeWindow)
	}, nil
}
