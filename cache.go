package anonymous

import (
	"sync"
	"time"
)

// entryOverhead estimates the bytes a cached token costs beyond its own
// length: the map entry, the User, the parsed descope.Token and its claims
// (BenchmarkTokenCacheMemory measures about 1,450 bytes for a typical token).
const entryOverhead = 1536

// tokenCache remembers session tokens that passed verification, until they
// expire, so a repeat request costs a map lookup instead of an RSA check. It
// never holds a token that failed verification. It is bounded by entries and
// by bytes; when full it first drops expired tokens, then arbitrary ones.
type tokenCache struct {
	mu         sync.RWMutex
	m          map[string]cacheEntry
	bytes      int
	maxEntries int
	maxBytes   int
	lastSweep  int64 // unix second of the last full sweep for expired tokens
}

type cacheEntry struct {
	user *User
	exp  int64 // unix seconds; the entry is good while now < exp
}

func newTokenCache(maxEntries, maxBytes int) *tokenCache {
	if maxEntries == 0 || maxBytes == 0 {
		return nil
	}
	return &tokenCache{m: make(map[string]cacheEntry), maxEntries: maxEntries, maxBytes: maxBytes}
}

func (c *tokenCache) get(token string, now int64) (*User, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || now >= e.exp {
		return nil, false
	}
	return e.user, true
}

func (c *tokenCache) put(u *User, exp int64) {
	if c == nil || u == nil || u.Token == nil {
		return
	}
	token := u.Token.JWT
	size := len(token) + entryOverhead
	if size > c.maxBytes {
		return
	}
	now := time.Now().Unix()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[token]; ok {
		c.bytes -= len(old.user.Token.JWT) + entryOverhead
		delete(c.m, token)
	}
	if (len(c.m) >= c.maxEntries || c.bytes+size > c.maxBytes) && now > c.lastSweep {
		c.lastSweep = now // at most one O(n) sweep a second
		for k, e := range c.m {
			if now >= e.exp {
				c.remove(k, e)
			}
		}
	}
	for k, e := range c.m { // random order: arbitrary victims
		if len(c.m) < c.maxEntries && c.bytes+size <= c.maxBytes {
			break
		}
		c.remove(k, e)
	}
	c.m[token] = cacheEntry{user: u, exp: exp}
	c.bytes += size
}

func (c *tokenCache) remove(k string, e cacheEntry) {
	delete(c.m, k)
	c.bytes -= len(e.user.Token.JWT) + entryOverhead
}

// len reports the number of cached tokens and their estimated bytes.
func (c *tokenCache) len() (entries, bytes int) {
	if c == nil {
		return 0, 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m), c.bytes
}

// drop removes a token, after the session it stands for was replaced.
func (c *tokenCache) drop(token string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[token]; ok {
		c.remove(token, e)
	}
}
