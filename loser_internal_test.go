package anonymous

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A flood of parallel finishes of one visitor while its conversion lock is
// held: at most maxAwaiting of them poll the store for the lock's release;
// the others give up at once, without a store read.
func TestAwaitUnlockIsBounded(t *testing.T) {
	w := newIWorld(t, nil)
	m := w.m
	ctx := context.Background()
	if ok, err := m.state.strictSetNX(ctx, conversionLockKey("u1"), nil, time.Minute); err != nil || !ok {
		t.Fatalf("take the lock: %v %v", ok, err)
	}
	waitCtx, stop := context.WithCancel(ctx)
	const n = 3 * maxAwaiting
	var wg sync.WaitGroup
	returned := make(chan bool, n)
	for range n {
		wg.Go(func() { returned <- m.awaitUnlock(waitCtx, "u1") })
	}
	// The ones over the bound return at once; the others wait while the
	// lock is held (up to 8×timeout), here until the context ends.
	for range n - maxAwaiting {
		if <-returned {
			t.Error("a finish saw a held lock released")
		}
	}
	if got := m.awaiting.Load(); got != maxAwaiting {
		t.Errorf("%d finishes waiting, want %d", got, maxAwaiting)
	}
	select {
	case <-returned:
		t.Error("more than n-maxAwaiting finishes gave up while the lock was held")
	default:
	}
	stop()
	wg.Wait()
	if got := m.awaiting.Load(); got != 0 {
		t.Errorf("%d still counted as waiting", got)
	}
}
