package anonymous

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// A flood of new keys evicts the oldest ones: the process-local store stays
// within its bound, and the newest keys are kept.
func TestMemStoreBounded(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(time.Now, 100)
	for i := range 1000 {
		if _, err := s.Incr(ctx, "k"+strconv.Itoa(i), 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := s.len(); n > 100 {
			t.Fatalf("%d keys held after %d inserts, bound 100", n, i+1)
		}
	}
	if n, _ := s.Incr(ctx, "k999", 0, time.Minute); n != 1 {
		t.Fatalf("the newest key lost its count: %d", n)
	}
	if n, _ := s.Incr(ctx, "k0", 0, time.Minute); n != 0 {
		t.Fatalf("the oldest key survived the flood: %d", n)
	}
}
