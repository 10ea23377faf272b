package anonymous

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
)

// entryOverhead bounds the heap one cached session costs beyond the bytes of
// its user ID: its slot, its share of the index map and of the slack both
// keep for growth (BenchmarkLiveSessionMemory measures it; keep it above).
const entryOverhead = 160

// clockReach is how many slots an insert into a full shard looks at before it
// evicts one anyway: it keeps eviction O(1).
const clockReach = 8

// maxShards is the number of shards of a large cache; a small one has fewer,
// so that each holds a few hundred entries when the cache is full.
const maxShards = 64

// sessionCache remembers session tokens that passed full verification, until
// they expire, so a repeat request costs a hash and a map lookup instead of
// an RSA check. It never holds a refresh token or a token that failed
// verification.
//
// It stores no token: an entry is keyed by a 128-bit keyed hash of the whole
// token, two hash/maphash sums under two seeds drawn at random when the cache
// is built, and holds only what the hot path needs (user ID, anonymous flag,
// expiry). The seeds never leave the process and no hash value is ever shown
// to a client. Only a verified token is ever inserted, so the one way to be
// served an identity without a verified token is a string, other than a
// cached token, with the same 128-bit hash. Whoever holds that token gains
// nothing from such a string; whoever does not must hit the hash of a token
// unknown to them under a key they never observe, and learns nothing from a
// miss: a chance of entries/2^128 per attempt. Two genuine tokens collide as
// rarely (entries²/2^129). maphash is no MAC, but it is built to resist
// collisions steered by a client when its seed is random and secret, as here.
//
// The cache is split into shards by hash, each with its own lock, so requests
// on different cores rarely meet; a lookup takes a read lock. It is bounded by
// entries and by estimated bytes, counted over all shards. An insert into a
// full cache evicts from its own shard with a CLOCK hand that looks at a few
// slots at most: the first that is expired or was not looked up since the
// hand last passed, else the last one it looked at. Each insert also removes
// up to two expired entries at the hand. Nothing ever sweeps a whole shard.
type sessionCache struct {
	seeds      [2]maphash.Seed
	mask       uint64 // len(shards)-1
	shards     []cacheShard
	maxEntries int64
	maxBytes   int64
	entries    atomic.Int64
	bytes      atomic.Int64
}

// cacheKey is a 128-bit keyed hash of a session token.
type cacheKey struct{ lo, hi uint64 }

type cacheShard struct {
	mu    sync.RWMutex
	index map[cacheKey]int32 // key → position in slots
	slots []cacheSlot        // dense: every slot holds an entry
	hand  int                // the CLOCK hand, a position in slots
	_     [64]byte           // keep neighbouring shards' locks apart
}

type cacheSlot struct {
	key  cacheKey
	exp  int64 // unix seconds; the entry is good while now < exp
	id   string
	ids  *[]string // the login IDs the token's claims carry (WithLoginIDClaims), nil without: a pointer, so a slot without them costs 8 bytes, not a slice header's 24; shared, read-only
	anon bool
	seen uint32 // set (atomically, under the read lock) by a lookup; cleared by the hand
}

func (s *cacheSlot) size() int64 {
	n := entryOverhead + int64(len(s.id))
	if s.ids != nil {
		n += idsSize(*s.ids)
	}
	return n
}

// idsSize estimates the heap a slot's login IDs take: a string header and
// the bytes of each.
func idsSize(ids []string) int64 {
	n := int64(0)
	for _, id := range ids {
		n += 16 + int64(len(id))
	}
	return n
}

// newSessionCache returns a cache bounded by maxEntries and maxBytes, or nil
// (a disabled cache) when either is zero.
func newSessionCache(maxEntries, maxBytes int) *sessionCache {
	if maxEntries <= 0 || maxBytes <= 0 {
		return nil
	}
	n := 1
	if q := maxEntries / 256; q > 1 {
		n = min(maxShards, 1<<(bits.Len(uint(q))-1))
	}
	c := &sessionCache{
		seeds:      [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		mask:       uint64(n - 1),
		shards:     make([]cacheShard, n),
		maxEntries: int64(maxEntries),
		maxBytes:   int64(maxBytes),
	}
	for i := range c.shards {
		c.shards[i].index = make(map[cacheKey]int32)
	}
	return c
}

// key hashes token with both seeds. maphash.Comparable hashes a string in one
// pass of the runtime's hash (maphash.String works in 128-byte pieces, at
// twice the cost for a token).
func (c *sessionCache) key(token string) cacheKey {
	return cacheKey{maphash.Comparable(c.seeds[0], token), maphash.Comparable(c.seeds[1], token)}
}

func (c *sessionCache) shard(k cacheKey) *cacheShard { return &c.shards[k.lo&c.mask] }

// locate returns the key of token and its shard.
func (c *sessionCache) locate(token string) (cacheKey, *cacheShard) {
	k := c.key(token)
	return k, c.shard(k)
}

// get returns the user ID and anonymous flag cached for token, if it was
// verified and has not expired at now (unix seconds).
func (c *sessionCache) get(token string, now int64) (id string, anon, ok bool) {
	id, anon, _, ok = c.lookup(token, now)
	return id, anon, ok
}

// lookup is get with the login IDs cached beside the user ID (shared: read
// only).
func (c *sessionCache) lookup(token string, now int64) (id string, anon bool, ids []string, ok bool) {
	if c == nil {
		return "", false, nil, false
	}
	k, s := c.locate(token)
	var exp int64
	s.mu.RLock()
	if i, found := s.index[k]; found {
		sl := &s.slots[i]
		id, anon, exp, ok = sl.id, sl.anon, sl.exp, true
		if sl.ids != nil {
			ids = *sl.ids
		}
		if atomic.LoadUint32(&sl.seen) == 0 {
			atomic.StoreUint32(&sl.seen, 1)
		}
	}
	s.mu.RUnlock()
	if !ok || now >= exp {
		return "", false, nil, false
	}
	return id, anon, ids, true
}

// put caches token for the user id until exp (unix seconds). Call it only
// with a session token that passed full verification.
func (c *sessionCache) put(token, id string, anon bool, exp, now int64) {
	c.putIDs(token, id, anon, nil, exp, now)
}

// putIDs is put with the login IDs the token's claims carry, kept beside
// the user ID; the cache keeps ids itself, which must not change after.
func (c *sessionCache) putIDs(token, id string, anon bool, ids []string, exp, now int64) {
	if c == nil || token == "" || id == "" || exp <= now {
		return
	}
	size := entryOverhead + int64(len(id)) + idsSize(ids)
	if size > c.maxBytes {
		return
	}
	k, s := c.locate(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.index[k]; found {
		return // the same token: the same claims
	}
	s.reap(c, now)
	for !c.reserve(size) {
		if !s.evict(c, now) {
			return // full, and this shard has nothing to give
		}
	}
	s.index[k] = int32(len(s.slots))
	// A copy of the ID, so that an entry never pins the buffer it was cut from.
	var held *[]string
	if len(ids) > 0 {
		held = &ids
	}
	s.slots = append(s.slots, cacheSlot{key: k, exp: exp, id: strings.Clone(id), ids: held, anon: anon})
}

// reserve counts one more entry of size bytes, unless that would pass a bound.
func (c *sessionCache) reserve(size int64) bool {
	if c.entries.Add(1) > c.maxEntries {
		c.entries.Add(-1)
		return false
	}
	if c.bytes.Add(size) > c.maxBytes {
		c.bytes.Add(-size)
		c.entries.Add(-1)
		return false
	}
	return true
}

// reap removes up to two expired entries at the hand, so that expired
// sessions leave a cache that is not full. s.mu is held.
func (s *cacheShard) reap(c *sessionCache, now int64) {
	for range 2 {
		if len(s.slots) == 0 {
			return
		}
		if s.hand >= len(s.slots) {
			s.hand = 0
		}
		if now >= s.slots[s.hand].exp {
			s.remove(c, s.hand) // the last slot moves to the hand: look at it next
		} else {
			s.hand++
		}
	}
}

// evict removes one entry, the first at the hand that is expired or was not
// looked up since the hand last passed, looking at clockReach slots at most.
// It reports false when the shard is empty. s.mu is held.
func (s *cacheShard) evict(c *sessionCache, now int64) bool {
	n := len(s.slots)
	if n == 0 {
		return false
	}
	for step := 1; ; step++ {
		if s.hand >= n {
			s.hand = 0
		}
		sl := &s.slots[s.hand]
		if now >= sl.exp || sl.seen == 0 || step == clockReach {
			s.remove(c, s.hand)
			return true
		}
		sl.seen = 0
		s.hand++
	}
}

// remove deletes the entry at position i, moving the last one into its place.
// s.mu is held.
func (s *cacheShard) remove(c *sessionCache, i int) {
	last := len(s.slots) - 1
	delete(s.index, s.slots[i].key)
	c.entries.Add(-1)
	c.bytes.Add(-s.slots[i].size())
	if i != last {
		s.slots[i] = s.slots[last]
		s.index[s.slots[i].key] = int32(i)
	}
	s.slots[last] = cacheSlot{} // release the ID
	s.slots = s.slots[:last]
}

// drop removes a token, after the session it stands for was replaced (by
// conversion, promotion or a merge). A later request with it is verified
// afresh.
func (c *sessionCache) drop(token string) {
	if c == nil || token == "" {
		return
	}
	k, s := c.locate(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := s.index[k]; found {
		s.remove(c, int(i))
	}
}

// len reports the number of cached sessions and their estimated bytes.
func (c *sessionCache) len() (entries, bytes int) {
	if c == nil {
		return 0, 0
	}
	return int(c.entries.Load()), int(c.bytes.Load())
}

// dropSession drops a replaced session token from the cache.
func (m *Middleware) dropSession(u *User) {
	m.cache.drop(u.sessionJWT())
}
