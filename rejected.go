package anonymous

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// A refresh token that Descope has answered is not live (a refresh it
// rejected, a logout it accepted or rejected) does not come back to life:
// a revocation is final, and so is an expiry. The middleware remembers such a
// token, by a keyed hash of it, so that the token presented again (by a
// browser that kept it, by parallel requests, by anyone replaying it) is
// answered as Descope answered, without asking again. A transient failure
// (no answer, a timeout, a 5xx, a 429) is never remembered here: the token
// is tried again on its next request, so an outage costs no visitor its
// identity.

// rejectedFor is how long a rejected refresh token is remembered at most;
// never past the token's own expiry.
const rejectedFor = 10 * time.Minute

// maxRejected bounds the memory of rejected refresh tokens, in entries
// (rejectedEntryBytes each at most: see BenchmarkRejectedMemory).
const maxRejected = 16384

// rejectedEntryBytes bounds the heap one remembered rejection costs: its
// 32-byte slot in the map, and its share of the map's control bytes and of
// the slack it keeps for growth (about 80 are measured in a full memory):
// 1.5 MiB at most for maxRejected entries.
const rejectedEntryBytes = 96

// errRejectedBefore is a refresh token that Descope has already answered is
// not live, answered from memory.
var errRejectedBefore = fmt.Errorf("%w: refresh token rejected by descope before", ErrInvalidToken)

// errRejectedElsewhere is a refresh token that Descope rejected for another
// replica, as the shared store tells.
var errRejectedElsewhere = errors.New("anonymous: refresh token rejected by descope on another replica")

// rejectedTokens remembers refresh tokens that Descope answered are not live.
// Like the session cache, it stores no token: an entry is keyed by a 128-bit
// keyed hash of the whole token (two hash/maphash sums under two seeds drawn
// at random on first use, never shown outside the process), so a string
// other than a remembered token is taken for it with a chance of
// entries/2^128, and only tokens Descope has answered for, so genuine ones,
// are ever entered. It holds at most max entries (maxRejected when 0): a
// remember into a full memory drops the expired entries among a few it looks
// at, then arbitrary ones. Its zero value is ready to use.
type rejectedTokens struct {
	mu    sync.Mutex
	seeds [2]maphash.Seed
	m     map[cacheKey]rejection // nil until the first remember
	max   int
}

// rejection is what is remembered of a rejected refresh token.
type rejection struct {
	until int64 // unix seconds: remembered while now < until
	final bool  // no grace: agreed through the shared store, or retired here
}

// has reports whether token is remembered as rejected at now, and whether
// its rejection is final. It costs a lock and nothing more while nothing is
// remembered.
func (r *rejectedTokens) has(token string, now time.Time) (final, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return false, false
	}
	k := r.key(token)
	e, found := r.m[k]
	if !found {
		return false, false
	}
	if now.Unix() >= e.until {
		delete(r.m, k)
		return false, false
	}
	return e.final, true
}

// remember notes that Descope answered token is not live, until its expiry
// exp (unix seconds; 0 when unknown), rejectedFor at most. final rejections
// get no grace (see refreshRejected).
func (r *rejectedTokens) remember(token string, exp int64, final bool, now time.Time) {
	until := now.Add(rejectedFor).Unix()
	if exp > 0 {
		until = min(until, exp)
	}
	if until <= now.Unix() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
		r.m = make(map[cacheKey]rejection)
	}
	k := r.key(token)
	if e, found := r.m[k]; found {
		r.m[k] = rejection{until: max(until, e.until), final: final || e.final}
		return
	}
	r.makeRoom(now.Unix())
	r.m[k] = rejection{until: until, final: final}
}

// makeRoom keeps the memory under its bound before an insert: when it is
// full, it drops the expired entries among a few it looks at, then arbitrary
// ones. It never walks the whole map. r.mu is held.
func (r *rejectedTokens) makeRoom(now int64) {
	limit := r.max
	if limit <= 0 {
		limit = maxRejected
	}
	if len(r.m) < limit {
		return
	}
	looked := 0
	for k, e := range r.m {
		if now >= e.until {
			delete(r.m, k)
		}
		if looked++; looked == 16 {
			break
		}
	}
	for k := range r.m {
		if len(r.m) < limit {
			break
		}
		delete(r.m, k)
	}
}

// key hashes token with both seeds. r.mu is held.
func (r *rejectedTokens) key(token string) cacheKey {
	return cacheKey{maphash.Comparable(r.seeds[0], token), maphash.Comparable(r.seeds[1], token)}
}

// len reports the number of remembered rejections, expired ones not yet
// dropped included.
func (r *rejectedTokens) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// descopeRejected reports whether err is Descope's answer that a refresh
// token is not live: a 4xx other than 429 (an answer, not a failure to
// get one; see isTransient), or such an answer agreed through the shared
// store. A token the SDK refused before calling Descope (a forgery) is not
// one: only tokens Descope has seen are remembered.
func descopeRejected(err error) bool {
	if err == nil || isTransient(err) {
		return false
	}
	if errors.Is(err, errRejectedElsewhere) {
		return true
	}
	s := statusOf(err)
	return s >= 400 && s < 500
}
