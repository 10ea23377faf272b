package anonymous

import "time"

// WithClock sets the middleware's clock, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// NewMemStore returns the process-local Store on the clock now, for tests.
func NewMemStore(now func() time.Time) Store { return newMemStore(now, 0) }
