package descopetest

import (
	"strconv"
	"testing"
	"time"
)

func TestSweepExpired(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := func(t time.Time) time.Time { return t }
	m := map[string]time.Time{}
	for i := range sweepAbove {
		m[strconv.Itoa(i)] = now.Add(time.Duration(i%2) * time.Hour) // half expired
	}
	sweepExpired(m, now, expires)
	if len(m) != sweepAbove/2 {
		t.Fatalf("after a sweep %d entries, want %d", len(m), sweepAbove/2)
	}
	m["x"] = now
	sweepExpired(m, now, expires)
	if len(m) != sweepAbove/2+1 {
		t.Fatal("swept below the threshold")
	}
}
