package anonymous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// errStoreDown means the shared store did not answer (or answered with an
// error, or too late); the caller goes on with process-local state.
var errStoreDown = errors.New("anonymous: shared store unavailable")

// probeKey is the key read to learn whether a failed store answers again.
const probeKey = "probe"

// sharedState is the middleware's state: the Store set by [WithStore] while it
// answers, else the process-local store. Every call to the shared store is
// bounded by the store timeout. The first failure switches every call to
// the local store, and is reported once; while it lasts, one caller per
// storeProbeEvery tries the shared store again, and the first answer
// switches back, reported once too. A store that is down or slow thus costs
// a request at most one store timeout, and never an error, except to a
// conversion or a promotion (the strict operations below).
type sharedState struct {
	shared     Store // nil: process-local only
	local      *memStore
	timeout    time.Duration
	now        func() time.Time
	logger     *slog.Logger
	onFallback func(ctx context.Context, fallingBack bool, err error)
	emit       func(context.Context, Event) // the middleware's observers; set by New
	keys       *storeKeys                   // names and seals what is stored about addresses and clients; set by New

	down      atomic.Bool
	probing   atomic.Bool
	nextProbe atomic.Int64 // unix nanoseconds
}

func newSharedState(cfg config) *sharedState {
	s := &sharedState{
		shared:     cfg.store.shared,
		local:      newMemStore(cfg.now, cfg.store.counters, cfg.store.values),
		timeout:    cfg.store.timeout,
		now:        cfg.now,
		logger:     cfg.logger,
		onFallback: cfg.store.onFallback,
	}
	if s.timeout <= 0 {
		s.timeout = defaultStoreTimeout
	}
	return s
}

// configured reports whether a shared store was set.
func (s *sharedState) configured() bool { return s.shared != nil }

// available reports whether calls go to the shared store now. While it is
// down, the first caller after each probe interval tries it again (one read,
// bounded by the store timeout).
func (s *sharedState) available(ctx context.Context) bool {
	if s.shared == nil {
		return false
	}
	if !s.down.Load() {
		return true
	}
	if s.now().UnixNano() < s.nextProbe.Load() || !s.probing.CompareAndSwap(false, true) {
		return false
	}
	defer s.probing.Store(false)
	cctx, cancel := s.callContext(ctx)
	_, _, err := s.shared.Get(cctx, probeKey)
	cancel()
	if err != nil {
		s.nextProbe.Store(s.now().Add(storeProbeEvery).UnixNano())
		return false
	}
	if s.down.CompareAndSwap(true, false) {
		s.logger.Info("shared store answers again: state is shared again")
		if s.emit != nil {
			s.emit(ctx, Event{Kind: EventStoreFallback, Reason: "restored"})
		}
		if s.onFallback != nil {
			s.onFallback(ctx, false, nil)
		}
	}
	return true
}

// failed notes a failed call to the shared store: the first failure falls
// back to local state, and is reported.
func (s *sharedState) failed(ctx context.Context, err error) {
	s.nextProbe.Store(s.now().Add(storeProbeEvery).UnixNano())
	if s.down.CompareAndSwap(false, true) {
		s.logger.Warn("shared store failed: falling back to process-local state", "err", err)
		if s.emit != nil {
			s.emit(ctx, Event{Kind: EventStoreFallback, Reason: "fallback", Err: err})
		}
		if s.onFallback != nil {
			s.onFallback(ctx, true, err)
		}
	}
}

// callContext bounds one call to the shared store. It is detached from the
// request, so that a visitor who goes away is not mistaken for a store
// outage.
func (s *sharedState) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
}

// call runs f on the shared store, bounded by the store timeout. It returns
// an error wrapping errStoreDown when there is no shared store, when it is
// down, or when f failed (which falls back).
func (s *sharedState) call(ctx context.Context, f func(context.Context, Store) error) error {
	if !s.available(ctx) {
		return errStoreDown
	}
	cctx, cancel := s.callContext(ctx)
	err := f(cctx, s.shared)
	cancel()
	if err != nil {
		s.failed(ctx, err)
		return fmt.Errorf("%w: %w", errStoreDown, err)
	}
	return nil
}

// The operations the rate limits and conversions use: on the shared store
// when it answers, else on the local one.

func (s *sharedState) incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return either(s, ctx, func(ctx context.Context, st Store) (int64, error) { return st.Incr(ctx, key, delta, ttl) })
}

func (s *sharedState) set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	_, err := either(s, ctx, func(ctx context.Context, st Store) (struct{}, error) { return struct{}{}, st.Set(ctx, key, val, ttl) })
	return err
}

func (s *sharedState) get(ctx context.Context, key string) ([]byte, bool, error) {
	type found struct {
		val []byte
		ok  bool
	}
	f, err := either(s, ctx, func(ctx context.Context, st Store) (found, error) {
		val, ok, err := st.Get(ctx, key)
		return found{val, ok}, err
	})
	return f.val, f.ok, err
}

// either runs op on the shared store when it answers, else on the local one.
func either[T any](s *sharedState, ctx context.Context, op func(context.Context, Store) (T, error)) (T, error) {
	var v T
	if s.call(ctx, func(ctx context.Context, st Store) (err error) {
		v, err = op(ctx, st)
		return err
	}) == nil {
		return v, nil
	}
	return op(ctx, s.local)
}

// del removes key from both stores: a key set locally during an outage does
// not outlive its use once the shared store is back.
func (s *sharedState) del(ctx context.Context, key string) error {
	_ = s.call(ctx, func(ctx context.Context, st Store) error { return st.Del(ctx, key) })
	return s.local.Del(ctx, key)
}

// Conversions and promotions change accounts, and are rare: they must not
// act on state another replica cannot see (a lock taken, a pending
// conversion recorded, a retirement noted only here). With a shared store
// configured, their operations run on it alone and fail while it does not
// answer (the caller answers ErrUnavailable); without one, on the local
// store. Everything else keeps falling back to local state.

func (s *sharedState) strictIncr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	return strict(s, ctx, func(ctx context.Context, st Store) (int64, error) { return st.Incr(ctx, key, delta, ttl) })
}

func (s *sharedState) strictSetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	return strict(s, ctx, func(ctx context.Context, st Store) (bool, error) { return st.SetNX(ctx, key, val, ttl) })
}

func (s *sharedState) strictSet(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	_, err := strict(s, ctx, func(ctx context.Context, st Store) (struct{}, error) { return struct{}{}, st.Set(ctx, key, val, ttl) })
	return err
}

func (s *sharedState) strictGet(ctx context.Context, key string) ([]byte, bool, error) {
	type found struct {
		val []byte
		ok  bool
	}
	f, err := strict(s, ctx, func(ctx context.Context, st Store) (found, error) {
		val, ok, err := st.Get(ctx, key)
		return found{val, ok}, err
	})
	return f.val, f.ok, err
}

// strict runs op on the shared store when one is configured, failing (with
// an error wrapping errStoreDown) while it does not answer; without one, on
// the local store.
func strict[T any](s *sharedState, ctx context.Context, op func(context.Context, Store) (T, error)) (T, error) {
	if s.shared == nil {
		return op(ctx, s.local)
	}
	var v T
	err := s.call(ctx, func(ctx context.Context, st Store) (err error) {
		v, err = op(ctx, st)
		return err
	})
	return v, err
}
