package anonymous

import (
	"sync"
	"time"
)

// maxTrackedClients bounds the per-client counters of one window. Past it,
// clients not yet seen in the window are refused: under a flood that wide the
// global limit would refuse them anyway.
const maxTrackedClients = 100000

// window counts events in fixed windows of length per, in total and per key.
type window struct {
	limit int
	per   time.Duration

	mu     sync.Mutex
	start  time.Time
	total  int
	counts map[string]int
}

func newWindow(limit int, per time.Duration) *window {
	if limit <= 0 {
		return nil
	}
	return &window{limit: limit, per: per, counts: make(map[string]int)}
}

func (w *window) roll(now time.Time) {
	if now.Sub(w.start) >= w.per {
		w.start = now
		w.total = 0
		clear(w.counts)
	}
}

// provisionLimiter enforces the per-client and the global provisioning limit.
type provisionLimiter struct {
	client *window
	global *window
}

// allow takes one provisioning slot for key, or reports that a limit is hit.
// A slot is taken from both limits or from neither.
func (l *provisionLimiter) allow(key string, now time.Time) bool {
	c, g := l.client, l.global
	if c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.roll(now)
		n, seen := c.counts[key]
		if n >= c.limit || (!seen && len(c.counts) >= maxTrackedClients) {
			return false
		}
	}
	if g != nil {
		g.mu.Lock()
		g.roll(now)
		if g.total >= g.limit {
			g.mu.Unlock()
			return false
		}
		g.total++
		g.mu.Unlock()
	}
	if c != nil {
		c.counts[key]++
	}
	return true
}
