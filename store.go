package anonymous

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store holds the state the middleware keeps between requests: the
// provisioning and one-time-code limits (counters in fixed windows), pending
// conversions and conversion locks, and the outcome of each refresh, so that
// for one refresh token only one replica calls Descope. The default is a
// bounded process-local store; [WithStore] shares one between the replicas of
// an application (package redisstore has a Redis implementation).
//
// The methods are atomic primitives, each on one key: a Store must be safe
// for concurrent use, and every method must honour its context's deadline.
// Keys are short ASCII strings; values are small (under a few kilobytes).
// A value that expires must be gone (absent to Get, free to SetNX) once its
// time to live has passed.
type Store interface {
	// Incr adds delta to the counter at key and returns the new count. A
	// counter that does not exist starts at zero and expires ttl after it
	// was created: later increments do not extend it.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// SetNX stores val at key for ttl unless key holds a value, and reports
	// whether it stored it.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// Set stores val at key for ttl, replacing any value.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Get returns the value at key; ok is false when there is none.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Del removes key; a missing key is no error.
	Del(ctx context.Context, key string) error
}

// Options of the store.
const (
	// defaultStoreTimeout bounds every call to a shared store.
	defaultStoreTimeout = 100 * time.Millisecond
	// storeProbeEvery is how often a store that failed is tried again.
	storeProbeEvery = time.Second
)

// WithStore shares the middleware's state through s: the provisioning and
// one-time-code limits, pending conversions and conversion locks, and the
// outcome of each refresh (encrypted under the refresh token spent on it),
// so that several replicas of an application act as one. When s fails or is
// slower than [WithStoreTimeout], the middleware falls back to process-local
// state until s answers again (see [WithOnStoreFallback]), except for
// conversions and promotions: those change accounts, and answer
// [ErrUnavailable] rather than act on state another replica cannot see.
// Defaults to a process-local store, right for a single process.
func WithStore(s Store) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("anonymous: nil store")
		}
		c.store.shared = s
		return nil
	}
}

// WithStoreTimeout bounds every call to the store set by [WithStore]: a call
// that takes longer counts as a failure and the middleware falls back to
// process-local state. Defaults to 100 ms.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("anonymous: store timeout must be positive")
		}
		c.store.timeout = d
		return nil
	}
}

// WithOnStoreFallback sets a hook called once when the store set by
// WithStore fails (fallingBack true, with the error) and the middleware
// falls back to process-local state, and once when the store answers again
// (fallingBack false, err nil). Both changes are logged too. Defaults to
// none.
func WithOnStoreFallback(f func(ctx context.Context, fallingBack bool, err error)) Option {
	return func(c *config) error { c.store.onFallback = f; return nil }
}

// storeConfig is what the store options set.
type storeConfig struct {
	shared     Store
	timeout    time.Duration
	onFallback func(ctx context.Context, fallingBack bool, err error)
}

// memStore is the process-local Store: counters in fixed windows and values
// with a time to live. It is bounded: when full it evicts the oldest key, so
// a flood of new keys pushes out old ones instead of locking new ones out.
type memStore struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	m     map[string]*memEntry
	order []memRef // insertion order, for eviction; may hold stale refs
	head  int      // order[head:] is live
	seq   uint64
}

type memEntry struct {
	n   int64
	val []byte
	exp time.Time
	seq uint64
}

type memRef struct {
	key string
	seq uint64
}

// defaultStoreKeys bounds a memStore: a key costs about 150 bytes, so the
// bound is about 30 MiB at worst.
const defaultStoreKeys = 200_000

func newMemStore(now func() time.Time, max int) *memStore {
	if max <= 0 {
		max = defaultStoreKeys
	}
	return &memStore{now: now, max: max, m: make(map[string]*memEntry)}
}

// live returns the unexpired entry of key, dropping an expired one.
func (s *memStore) live(key string, now time.Time) *memEntry {
	e, ok := s.m[key]
	if !ok {
		return nil
	}
	if !now.Before(e.exp) {
		delete(s.m, key)
		return nil
	}
	return e
}

// insert adds a new entry, evicting the oldest keys when the store is full.
func (s *memStore) insert(key string, e *memEntry) {
	for len(s.m) >= s.max && s.head < len(s.order) {
		ref := s.order[s.head]
		s.order[s.head] = memRef{}
		s.head++
		if old, ok := s.m[ref.key]; ok && old.seq == ref.seq {
			delete(s.m, ref.key)
		}
	}
	s.seq++
	e.seq = s.seq
	s.m[key] = e
	s.order = append(s.order, memRef{key: key, seq: e.seq})
	if s.head > len(s.order)/2 || len(s.order) > 2*s.max+64 {
		s.compact()
	}
}

// compact drops evicted and stale references from the insertion order.
func (s *memStore) compact() {
	kept := make([]memRef, 0, len(s.m)+1)
	for _, ref := range s.order[s.head:] {
		if e, ok := s.m[ref.key]; ok && e.seq == ref.seq {
			kept = append(kept, ref)
		}
	}
	s.order, s.head = kept, 0
}

// Incr adds delta to the counter at key, which starts at zero and lives for
// ttl from its creation, and returns the new count.
func (s *memStore) Incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		e = &memEntry{exp: now.Add(ttl)}
		s.insert(key, e)
	}
	e.n += delta
	return e.n, nil
}

// SetNX stores val at key for ttl unless key holds a live value, and reports
// whether it stored it.
func (s *memStore) SetNX(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live(key, now) != nil {
		return false, nil
	}
	s.insert(key, &memEntry{val: val, exp: now.Add(ttl)})
	return true, nil
}

// Set stores val at key for ttl.
func (s *memStore) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.live(key, now); e != nil {
		e.val, e.exp = val, now.Add(ttl)
		return nil
	}
	s.insert(key, &memEntry{val: val, exp: now.Add(ttl)})
	return nil
}

// Get returns the live value at key.
func (s *memStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		return nil, false, nil
	}
	return e.val, true, nil
}

// Del removes key.
func (s *memStore) Del(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// len reports the number of keys held, live or not yet noticed as expired.
func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
