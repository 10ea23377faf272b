package anonymous

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/internal/testclock"
)

// An attacker who times a burst at the edge of a limit's window, half before
// it and half after, gets no more than the limit: every limit counts in two
// sets of windows half a period apart, and a burst shorter than half a
// period lies whole within a window of one of them. With one set of fixed
// windows the burst got twice the limit. Each limit's window (a minute for
// provisioning, ten minutes for codes) has an edge at the hour.
func TestLimitsHoldAcrossAWindowEdge(t *testing.T) {
	ctx := context.Background()
	edge := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		limit int
		opts  []Option
		take  func(m *Middleware, i int) bool
	}{
		{"per client", 10, []Option{WithClientRateLimit(10, time.Minute), WithGlobalRateLimit(0, 0)}, func(m *Middleware, _ int) bool {
			_, err := m.takeClientSlot(ctx, "2001:db8::/64")
			return err == nil
		}},
		{"global", 10, []Option{WithClientRateLimit(0, 0), WithGlobalRateLimit(10, time.Minute)}, func(m *Middleware, _ int) bool {
			return m.takeGlobalSlot(ctx, UserBacked) == nil
		}},
		{"codes per address", maxCodesPerAddress, nil, func(m *Middleware, i int) bool {
			a, err := parseAddress("victim@example.com")
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.takeStartSlot(ctx, fmt.Sprintf("visitor-%d", i), fmt.Sprintf("192.0.2.%d", i), a)
			return err == nil
		}},
		{"codes per visitor", maxCodesPerVisitor, nil, func(m *Middleware, i int) bool {
			a, err := parseAddress(fmt.Sprintf("a%d@example.com", i))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.takeStartSlot(ctx, "visitor", fmt.Sprintf("192.0.2.%d", i), a)
			return err == nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(edge.Add(-time.Second))
			w := newIWorld(t, nil, append([]Option{WithClock(clock.Now)}, tc.opts...)...)
			allowed, i := 0, 0
			for range 2 * tc.limit {
				if tc.take(w.m, i) {
					allowed++
				}
				i++
			}
			clock.Add(2 * time.Second) // past the edge
			for range 2 * tc.limit {
				if tc.take(w.m, i) {
					allowed++
				}
				i++
			}
			if allowed != tc.limit {
				t.Errorf("a burst across a window's edge was allowed %d, want the limit %d", allowed, tc.limit)
			}
			// A period later, a window of each set has begun since the burst.
			clock.Add(codeWindow)
			if !tc.take(w.m, i) {
				t.Error("refused a period after the burst")
			}
		})
	}
}
