package anonymous

import (
	"context"
	"encoding/binary"
	"strings"
	"time"
)

// WithClock sets the middleware's clock, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// NewMemStore returns the process-local Store on the clock now, for tests.
func NewMemStore(now func() time.Time) Store { return newMemStore(now, 0, 0) }

// RefreshOutcomeKey is the store key of the outcome of spending token.
func RefreshOutcomeKey(token string) string { return refreshResultKey + deriveRefreshSecrets(token).id }

// RefreshClaim is a claim on a refresh token made at t.
func RefreshClaim(t time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte{0}, uint64(t.UnixMilli()))
}

// CullClock sets the clock Cull paces its calls by and how it waits (its
// retries and pacing), for tests: sleep returns ctx's error when ctx is done,
// nil once d has passed on now.
func CullClock(o *CullOptions, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) {
	o.pace, o.sleep = now, sleep
}

// StoreKeys is the number of live keys with prefix in s, a store made by
// NewMemStore.
func StoreKeys(s Store, prefix string) int {
	ms := s.(*memStore)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := 0
	for k, e := range ms.counters {
		if strings.HasPrefix(k, prefix) && ms.now().Before(e.exp) {
			n++
		}
	}
	for k, e := range ms.values {
		if strings.HasPrefix(k, prefix) && ms.now().Before(e.exp) {
			n++
		}
	}
	return n
}

// LocalStoreLen is the number of keys in m's process-local store.
func LocalStoreLen(m *Middleware) int { return m.state.local.len() }

// SetPendingJSON stores raw as the pending conversion of userID, sealed as
// m stores its own: a record another version of the library wrote.
func SetPendingJSON(m *Middleware, userID, raw string) error {
	key := pendingKey + userID
	return m.state.strictSet(context.Background(), key, m.state.keys.seal(key, []byte(raw)), codeWindow)
}
