package anonymous

import (
	"context"
	"errors"
	"fmt"

	"github.com/descope/go-sdk/descope"
)

// The conversion budget: what one visitor, and one client, can make the
// middleware ask Descope through conversion. Descope's rate limits are the
// project's (https://docs.descope.com/rate-limit; the emulator allows 500
// user loads a minute), so a visitor who floods the conversion routes must
// not spend them for everyone. Every
// limit is counted before the first call to Descope; a start remembers in
// the pending conversion what it loaded, so the next start and the verify
// do not load it again; and a code Descope has locked is not tried again.
//
// Per visitor and codeWindow, at most maxStartsPerVisitor starts and
// maxVerifiesPerVisitor verifications reach Descope (maxCodesPerVisitor of
// the starts may send a code); per client ([WithClientKey]), at most
// [WithConversionClientLimit] of each. A start costs at most three calls
// (an owner lookup, a load of the user once per pending conversion, the
// code), a verification that fails at most two (an owner lookup, the code).
// Promotion provisions, and is counted by the provisioning limits.

const (
	// maxStartsPerVisitor bounds the conversion starts of one visitor that
	// reach Descope, code sent or not, per codeWindow.
	maxStartsPerVisitor = 10
	// maxVerifiesPerVisitor bounds the verifications of one visitor that
	// reach Descope per codeWindow.
	maxVerifiesPerVisitor = 10
	// defaultConversionClientLimit is the default of
	// WithConversionClientLimit.
	defaultConversionClientLimit = 30
)

// WithConversionClientLimit limits the conversion starts, and the
// verifications, that one client may have reach Descope to n each per 10
// minutes; further ones are refused with [ErrTooManyCodes] or
// [ErrTooManyAttempts] before any call. The client is the key of the
// per-client provisioning limit: the connection's address, an IPv6 address
// by its network ([WithIPv6Prefix]), or [WithClientKey]'s. Each visitor has
// limits of its own besides (10 starts, 5 of them codes, and 10
// verifications per 10 minutes). A key function that answers the same key
// for many people makes this their common limit. 0 turns the per-client
// limit off. Defaults to 30.
func WithConversionClientLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("anonymous: negative conversion client limit")
		}
		c.convClientMax = n
		return nil
	}
}

// convLimit is one counter a conversion step takes: limit events per
// codeWindow under prefix+key, refused with err and the message's words.
type convLimit struct {
	prefix, key string
	limit       int
	err         error
	what        string // "codes per visitor", …
	keep        bool   // counts a step that reached Descope: not given back
}

// takeConvSlots counts one event against each limit, in order, on the
// shared store alone. A limit of 0 is off. When one refuses, or the store
// does not answer, the ones taken are given back. give returns the ones
// not marked keep, for work that did not happen after all.
func (m *Middleware) takeConvSlots(ctx context.Context, limits ...convLimit) (give func(), err error) {
	var taken []string
	var kept []bool
	back := func(all bool) {
		for i, c := range taken {
			if all || !kept[i] {
				_, _ = m.state.strictIncr(ctx, c, -1, codeWindow)
			}
		}
	}
	for _, l := range limits {
		if l.limit <= 0 {
			continue
		}
		for _, counter := range windowKeys(l.prefix, l.key, codeWindow, m.now()) {
			n, err := m.state.strictIncr(ctx, counter, 1, codeWindow)
			if err != nil {
				back(true)
				return nil, wrap(ErrUnavailable, err)
			}
			taken, kept = append(taken, counter), append(kept, l.keep)
			if n > int64(l.limit) {
				back(true)
				return nil, fmt.Errorf("%w: at most %d %s in %v", l.err, l.limit, l.what, codeWindow)
			}
		}
	}
	return func() { back(false) }, nil
}

// The counters named by an address or a client address are named by a keyed
// hash of it (keyFor): a dump of the store shows neither.

// takeStartSlot counts a conversion start of the visitor userID from client
// to a, before Descope is asked anything: a code for the visitor and one
// for the address, which release gives back when no code was sent after
// all, and a start of the visitor and of the client, which stay counted.
func (m *Middleware) takeStartSlot(ctx context.Context, userID, client string, a address) (release func(), err error) {
	return m.takeConvSlots(ctx,
		convLimit{"code:u:", userID, maxCodesPerVisitor, ErrTooManyCodes, "codes per visitor", false},
		convLimit{"", m.state.keys.keyFor(addressCounterKey, a.limitKey()), maxCodesPerAddress, ErrTooManyCodes, "codes per address", false},
		convLimit{"conv:s:u:", userID, maxStartsPerVisitor, ErrTooManyCodes, "conversion starts per visitor", true},
		convLimit{"", m.state.keys.keyFor("conv:s:c:", client), m.cfg.convClientMax, ErrTooManyCodes, "conversion starts per client", true},
	)
}

// takeVerifySlot counts a verification of the visitor userID from client,
// before Descope is asked anything.
func (m *Middleware) takeVerifySlot(ctx context.Context, userID, client string) error {
	_, err := m.takeConvSlots(ctx,
		convLimit{"conv:v:u:", userID, maxVerifiesPerVisitor, ErrTooManyAttempts, "verifications per visitor", true},
		convLimit{"", m.state.keys.keyFor("conv:v:c:", client), m.cfg.convClientMax, ErrTooManyAttempts, "verifications per client", true},
	)
	return err
}

// codeLocked reports whether err is Descope's answer that the code is
// locked after too many wrong attempts.
func codeLocked(err error) bool { return descope.IsError(err, "E061103") }
