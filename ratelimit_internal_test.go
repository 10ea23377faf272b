package anonymous

import (
	"context"
	"fmt"
	"strconv"
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

// The first set's counters keep the names they had before the second set
// (an upgrade keeps their counts); the second's are named apart, and move
// to a new window half a period after the first's.
func TestWindowKeys(t *testing.T) {
	per := time.Minute
	edge := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{edge.Add(-time.Nanosecond), edge, edge.Add(per/2 - time.Nanosecond), edge.Add(per / 2)} {
		got := windowKeys("prov:c:", "k", per, at)
		n := at.UnixNano()
		want := [2]string{"prov:c:k@" + strconv.FormatInt(n/int64(per), 36), "prov:c:k@~" + strconv.FormatInt((n+int64(per/2))/int64(per), 36)}
		if got != want {
			t.Errorf("at %v: %q, want %q", at, got, want)
		}
	}
	a, b := windowKeys("", "k", per, edge.Add(-time.Nanosecond)), windowKeys("", "k", per, edge)
	if a[0] == b[0] || a[1] != b[1] {
		t.Errorf("at the first set's edge: %q then %q, want the first to move and the second to stay", a, b)
	}
	a, b = windowKeys("", "k", per, edge.Add(per/2-time.Nanosecond)), windowKeys("", "k", per, edge.Add(per/2))
	if a[0] != b[0] || a[1] == b[1] {
		t.Errorf("half a period on: %q then %q, want the second to move and the first to stay", a, b)
	}
}
