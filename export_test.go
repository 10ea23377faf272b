package anonymous

import (
	"context"
	"encoding/binary"
	"time"
)

// WithClock sets the middleware's clock, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// NewMemStore returns the process-local Store on the clock now, for tests.
func NewMemStore(now func() time.Time) Store { return newMemStore(now, 0) }

// RefreshOutcomeKey is the store key of the outcome of spending token.
func RefreshOutcomeKey(token string) string { return refreshResultKey + deriveRefreshSecrets(token).id }

// RefreshClaim is a claim on a refresh token made at t.
func RefreshClaim(t time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte{0}, uint64(t.UnixMilli()))
}

// CullSleep sets how Cull waits (its retries and pacing), for tests: sleep
// returns ctx's error when ctx is done, nil once d has passed.
func CullSleep(o *CullOptions, sleep func(ctx context.Context, d time.Duration) error) {
	o.sleep = sleep
}

// LocalStoreLen is the number of keys in m's process-local store.
func LocalStoreLen(m *Middleware) int { return m.state.local.len() }
