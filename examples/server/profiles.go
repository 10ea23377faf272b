package main

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/descope-contrib/anonymous"
)

// Bounds of the profile cache: a regular user's login IDs are loaded from
// Descope at most once per profileTTL (once per profileFailTTL while Descope
// fails), for at most maxProfiles users at once.
const (
	profileTTL     = 5 * time.Minute
	profileFailTTL = 30 * time.Second
	maxProfiles    = 10000
)

// profiles caches regular users' login IDs for /api/me: a regular user's
// session token does not carry them, and loading the profile is a management
// call, which Descope rate-limits per project. Concurrent requests of one
// user share one load; a conversion fills the entry with no load at all
// (put, from the OnConvert hook). A login ID added elsewhere shows within
// profileTTL.
type profiles struct {
	load func(context.Context, *anonymous.User) ([]string, error)
	now  func() time.Time // the clock; tests set it

	mu     sync.Mutex
	byUser map[string]*list.Element // of *profile
	lru    list.List                // most recently used first
}

// profile is one user's cached login IDs; ready is closed once they are
// loaded (or the load failed: loginIDs is then nil).
type profile struct {
	user     string
	ready    chan struct{}
	loginIDs []string
	expires  time.Time // set before ready is closed
}

// newProfiles returns an empty cache that loads login IDs with load.
func newProfiles(load func(context.Context, *anonymous.User) ([]string, error)) *profiles {
	p := &profiles{load: load, now: time.Now, byUser: make(map[string]*list.Element)}
	p.lru.Init()
	return p
}

// loginIDs returns u's login IDs, from the cache or from one load shared by
// the requests that ask meanwhile. A failed load answers nil, and is
// remembered for profileFailTTL so that an outage costs no more calls; err
// is the load's failure, for the request that made it, or ctx's, when it
// ends before the load another request made.
func (p *profiles) loginIDs(ctx context.Context, u *anonymous.User) ([]string, error) {
	p.mu.Lock()
	if el := p.byUser[u.ID]; el != nil {
		e := el.Value.(*profile)
		select {
		case <-e.ready:
			if !p.now().Before(e.expires) {
				p.remove(el)
				break
			}
			p.lru.MoveToFront(el)
			p.mu.Unlock()
			return e.loginIDs, nil
		default: // being loaded: wait for it
			p.lru.MoveToFront(el)
			p.mu.Unlock()
			select {
			case <-e.ready:
				return e.loginIDs, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	e := &profile{user: u.ID, ready: make(chan struct{})}
	p.insert(e)
	p.mu.Unlock()

	// The load is shared: it runs to its end (bounded by the middleware's
	// timeout) even if this request goes away.
	ids, err := p.load(context.WithoutCancel(ctx), u)
	p.mu.Lock()
	e.loginIDs, e.expires = ids, p.now().Add(profileTTL)
	if err != nil {
		e.loginIDs, e.expires = nil, p.now().Add(profileFailTTL)
	}
	close(e.ready)
	p.mu.Unlock()
	return e.loginIDs, err
}

// put caches login IDs learned without a call (a conversion's).
func (p *profiles) put(userID string, loginIDs []string) {
	e := &profile{user: userID, ready: make(chan struct{}), loginIDs: loginIDs}
	p.mu.Lock()
	defer p.mu.Unlock()
	if el := p.byUser[userID]; el != nil {
		p.remove(el) // a load under way still answers its own waiters
	}
	e.expires = p.now().Add(profileTTL)
	close(e.ready)
	p.insert(e)
}

// insert adds e as the most recently used entry, evicting the least
// recently used beyond maxProfiles.
func (p *profiles) insert(e *profile) {
	p.byUser[e.user] = p.lru.PushFront(e)
	for p.lru.Len() > maxProfiles {
		p.remove(p.lru.Back())
	}
}

func (p *profiles) remove(el *list.Element) {
	p.lru.Remove(el)
	delete(p.byUser, el.Value.(*profile).user)
}
