package anonymous

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strings"
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
// one-time-code limits (counted per client and per address under a keyed
// hash of either, never the address itself), pending conversions (sealed)
// and conversion locks, and the outcome of each refresh (encrypted under the
// refresh token spent on it), so that several replicas of an application act
// as one; they must share a secret too ([WithStoreSecret]). When s fails or is
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

// WithLocalStoreSize bounds the process-local store, the whole state of a
// single process and the fallback of a shared one: counters is the most
// rate-limit counters it holds (when full, the oldest counter is dropped,
// which only forgets a count), values the most other entries: pending
// conversions, conversion locks, converted or promoted identities, refresh
// memory. Values are never dropped to make room, least of all for counters:
// when they fill the space, whatever would need a new one fails instead (a
// conversion answers 503). A tenth of the value space is kept for the marks of
// identities converted or promoted, so that a conversion under way can still
// retire its old identity. A counter costs about 160 bytes of heap, a value
// about 225 and what it holds; the defaults, 200,000 counters and 100,000
// values, bound the store at about 55 MB.
func WithLocalStoreSize(counters, values int) Option {
	return func(c *config) error {
		if counters < 1 || values < 10 {
			return fmt.Errorf("anonymous: local store of %d counters and %d values: want at least 1 and 10", counters, values)
		}
		c.store.counters, c.store.values = counters, values
		return nil
	}
}

// storeConfig is what the store options set.
type storeConfig struct {
	shared     Store
	timeout    time.Duration
	onFallback func(ctx context.Context, fallingBack bool, err error)
	counters   int // WithLocalStoreSize; 0: the default
	values     int
	secret     []byte // WithStoreSecret
}

// errStoreFull means the process-local store has no room for a new value:
// values are never evicted, so the operation that needed one fails.
var errStoreFull = errors.New("anonymous: process-local store full")

// Bounds of a memStore (WithLocalStoreSize).
const (
	defaultStoreCounters = 200_000
	defaultStoreValues   = 100_000
)

// memStore is the process-local Store. It keeps counters (Incr) and values
// (Set, SetNX) in two spaces of their own, each bounded. A full counter space
// evicts its oldest counter, so a flood of new clients pushes out old counts
// instead of locking new clients out. The value space holds what must not be
// forgotten early: a conversion lock, a pending conversion, the mark of a
// converted identity. It never evicts a live value; expired ones are dropped
// when room is needed, and when there is none the write fails (errStoreFull).
// A counter can thus never push out a value. Marks of converted or promoted
// identities (retiredKey) may use the whole value space; every other value
// only nine tenths of it, so that the marks of conversions already under way
// find room when a flood of pending conversions has filled the rest.
type memStore struct {
	now         func() time.Time
	maxCounters int
	maxValues   int
	reserve     int // of maxValues, for retiredKey marks only

	mu       sync.Mutex
	counters map[string]*memCounter
	order    []memRef // counters in insertion order, for eviction; may hold stale refs
	head     int      // order[head:] is live
	values   map[string]*memValue
	expiry   memExpiry // values by expiry; may hold stale refs
	seq      uint64
}

type memCounter struct {
	n   int64
	exp time.Time
	seq uint64
}

type memValue struct {
	val []byte
	exp time.Time
	seq uint64
}

type memRef struct {
	key string
	seq uint64
}

func newMemStore(now func() time.Time, counters, values int) *memStore {
	if counters <= 0 {
		counters = defaultStoreCounters
	}
	if values <= 0 {
		values = defaultStoreValues
	}
	return &memStore{
		now: now, maxCounters: counters, maxValues: values, reserve: values / 10,
		counters: make(map[string]*memCounter),
		values:   make(map[string]*memValue),
	}
}

// counter returns the unexpired counter of key, dropping an expired one.
func (s *memStore) counter(key string, now time.Time) *memCounter {
	e, ok := s.counters[key]
	if !ok {
		return nil
	}
	if !now.Before(e.exp) {
		delete(s.counters, key)
		return nil
	}
	return e
}

// value returns the unexpired value of key, dropping an expired one.
func (s *memStore) value(key string, now time.Time) *memValue {
	e, ok := s.values[key]
	if !ok {
		return nil
	}
	if !now.Before(e.exp) {
		delete(s.values, key)
		return nil
	}
	return e
}

// insertCounter adds a new counter, evicting the oldest counters when the
// counter space is full.
func (s *memStore) insertCounter(key string, e *memCounter) {
	for len(s.counters) >= s.maxCounters && s.head < len(s.order) {
		ref := s.order[s.head]
		s.order[s.head] = memRef{}
		s.head++
		if old, ok := s.counters[ref.key]; ok && old.seq == ref.seq {
			delete(s.counters, ref.key)
		}
	}
	s.seq++
	e.seq = s.seq
	s.counters[key] = e
	s.order = append(s.order, memRef{key: key, seq: e.seq})
	if s.head > len(s.order)/2 || len(s.order) > 2*s.maxCounters+64 {
		s.compactCounters()
	}
}

// compactCounters drops evicted and stale references from the insertion
// order.
func (s *memStore) compactCounters() {
	kept := make([]memRef, 0, len(s.counters)+1)
	for _, ref := range s.order[s.head:] {
		if e, ok := s.counters[ref.key]; ok && e.seq == ref.seq {
			kept = append(kept, ref)
		}
	}
	s.order, s.head = kept, 0
}

// room returns how many values there may be, key's included: the whole
// value space for the mark of a retired identity, less the reserve for any
// other value.
func (s *memStore) room(key string) int {
	if strings.HasPrefix(key, retiredKey) {
		return s.maxValues
	}
	return s.maxValues - s.reserve
}

// putValue stores val at key until exp: in place when key holds a live
// value, else as a new value if there is room, after dropping the expired
// ones. It never evicts a live value.
func (s *memStore) putValue(key string, val []byte, exp, now time.Time) error {
	e := s.value(key, now)
	if e == nil {
		if len(s.values) >= s.room(key) {
			s.dropExpired(now)
			if len(s.values) >= s.room(key) {
				return errStoreFull
			}
		}
		e = &memValue{}
		s.values[key] = e
	}
	s.seq++
	e.val, e.exp, e.seq = val, exp, s.seq
	heap.Push(&s.expiry, memExpiryRef{exp: exp, ref: memRef{key: key, seq: e.seq}})
	if len(s.expiry) > 2*len(s.values)+64 {
		s.compactExpiry()
	}
	return nil
}

// dropExpired removes the values whose time has passed, soonest first.
func (s *memStore) dropExpired(now time.Time) {
	for len(s.expiry) > 0 && !now.Before(s.expiry[0].exp) {
		ref := heap.Pop(&s.expiry).(memExpiryRef).ref
		if e, ok := s.values[ref.key]; ok && e.seq == ref.seq {
			delete(s.values, ref.key)
		}
	}
}

// compactExpiry drops stale references (of values replaced or removed) from
// the expiry heap.
func (s *memStore) compactExpiry() {
	kept := make(memExpiry, 0, len(s.values)+1)
	for _, r := range s.expiry {
		if e, ok := s.values[r.ref.key]; ok && e.seq == r.ref.seq {
			kept = append(kept, r)
		}
	}
	heap.Init(&kept)
	s.expiry = kept
}

// Incr adds delta to the counter at key, which starts at zero and lives for
// ttl from its creation, and returns the new count.
func (s *memStore) Incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.counter(key, now)
	if e == nil {
		e = &memCounter{exp: now.Add(ttl)}
		s.insertCounter(key, e)
	}
	e.n += delta
	return e.n, nil
}

// SetNX stores val at key for ttl unless key holds a live value, and reports
// whether it stored it; errStoreFull when there is no room for it.
func (s *memStore) SetNX(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value(key, now) != nil {
		return false, nil
	}
	if err := s.putValue(key, val, now.Add(ttl), now); err != nil {
		return false, err
	}
	return true, nil
}

// Set stores val at key for ttl; errStoreFull when key is new and there is
// no room for it.
func (s *memStore) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putValue(key, val, now.Add(ttl), now)
}

// Get returns the live value at key.
func (s *memStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.value(key, now)
	if e == nil {
		return nil, false, nil
	}
	return e.val, true, nil
}

// Del removes key, counter or value.
func (s *memStore) Del(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counters, key)
	delete(s.values, key)
	return nil
}

// len reports the number of counters and values held, live or not yet
// noticed as expired.
func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counters) + len(s.values)
}

// memExpiryRef is a value's place in the expiry heap.
type memExpiryRef struct {
	exp time.Time
	ref memRef
}

// memExpiry is a min-heap of values by expiry (container/heap).
type memExpiry []memExpiryRef

func (h memExpiry) Len() int           { return len(h) }
func (h memExpiry) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h memExpiry) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *memExpiry) Push(x any)        { *h = append(*h, x.(memExpiryRef)) }
func (h *memExpiry) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
