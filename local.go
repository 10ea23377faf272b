package anonymous

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Local IDs. With the LocalIDs strategy a new visitor gets an ID made here,
// carried in a cookie of its own (DSL by default) that the application's keys
// seal: no call to Descope, no user record, no JWT. The cookie is
//
//	base64url(version | key ID | AES-256-GCM(local ID | expiry))
//
// with a random nonce, and the cookie's name, the version and the key ID as
// additional data, under a key derived from the application's secret. Nothing
// is stored or cached per visitor: every replica holding the same keys opens
// every cookie. A local visitor turns into a Descope user only by conversion
// (a one-time code, as with native tokens) or by [Middleware.PromoteTo].

// LocalIDPrefix starts every ID the LocalIDs strategy makes, so that a local
// ID is never mistaken for a Descope user ID.
const LocalIDPrefix = "local-"

// MinLocalKeyLen is the shortest key [WithLocalKeys] accepts, in bytes.
const MinLocalKeyLen = 32

// IsLocalID reports whether id has the shape of a local ID: LocalIDPrefix
// followed by a version-4 UUID (122 random bits).
func IsLocalID(id string) bool {
	rest, ok := strings.CutPrefix(id, LocalIDPrefix)
	if !ok || len(rest) != 36 {
		return false
	}
	u, err := uuid.Parse(rest)
	return err == nil && u.Version() == 4
}

// WithLocalKeys sets the keys that seal and open the local ID cookie: the
// first seals, every one opens, so a key is rotated by putting the new one
// first and dropping the old one once the cookies it sealed have expired (a
// returning visitor's cookie sealed by an older key is sealed again under the
// first, same ID and expiry). Each key is a secret of at least
// MinLocalKeyLen random bytes, the same on every replica. Required by the
// LocalIDs strategy; with another strategy, local visitors that already hold
// a cookie are still recognised (and can convert or be promoted) while new
// visitors get the strategy's identity. Defaults to none.
func WithLocalKeys(keys ...[]byte) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return errors.New("anonymous: WithLocalKeys needs at least one key")
		}
		c.localKeys = make([][]byte, len(keys))
		for i, k := range keys {
			if len(k) < MinLocalKeyLen {
				return fmt.Errorf("anonymous: local key %d is %d bytes, want at least %d", i, len(k), MinLocalKeyLen)
			}
			if bytes.Count(k, k[:1]) == len(k) {
				return fmt.Errorf("anonymous: local key %d repeats one byte: use random bytes", i)
			}
			c.localKeys[i] = bytes.Clone(k)
		}
		return nil
	}
}

// WithLocalCookieName sets the name of the local ID cookie. The name is bound
// into the seal: a value moved to another cookie name does not open. Defaults
// to "DSL".
func WithLocalCookieName(name string) Option {
	return func(c *config) error {
		if !validCookieName(name) {
			return fmt.Errorf("anonymous: invalid local cookie name %q", name)
		}
		c.localCookie = name
		return nil
	}
}

// localGlobalLimit is the default global provisioning limit of LocalIDs, per
// minute: no Descope limit binds, so it only bounds how fast a flood from
// many addresses can mint identities (and rows in the application's store).
const localGlobalLimit = 60_000

// validateLocal checks the local ID settings and sets the LocalIDs defaults.
func (c *config) validateLocal() error {
	if c.strategy == LocalIDs {
		if len(c.localKeys) == 0 {
			return errors.New("anonymous: the LocalIDs strategy needs WithLocalKeys")
		}
		if !c.globalSet {
			c.globalLimit, c.globalPer = localGlobalLimit, time.Minute
		}
	}
	if c.localCookie == c.sessionCookie || c.localCookie == c.refreshCookie {
		return fmt.Errorf("anonymous: local cookie name %q is taken by the session or refresh cookie", c.localCookie)
	}
	return nil
}

// identifyLocal identifies a local visitor by the value v of its cookie. A
// cookie that does not open (tampered, truncated, expired, sealed by a key no
// longer held) is ignored: the visitor may be given a fresh local ID.
func (m *Middleware) identifyLocal(w http.ResponseWriter, r *http.Request, v string) (*User, outcome, error) {
	if v == "" {
		return nil, noSession, nil
	}
	// The User and the context node that carries it in one allocation, as
	// for a cached session (no token: Token() is nil).
	now := m.now().Unix()
	if id, _, ok := m.opened.get(v, now); ok {
		m.obs.emit(r.Context(), Event{Kind: EventCacheHit})
		return newCachedUser(id, true, ""), identified, nil
	}
	m.obs.emit(r.Context(), Event{Kind: EventCacheMiss})
	raw, exp, key, ok := m.local.open(v, now)
	if !ok {
		m.cfg.logger.Debug("local ID cookie refused", "path", r.URL.Path)
		return nil, noSession, nil
	}
	id := localIDString(raw)
	if key != 0 {
		// Sealed by an older key: seal it again under the first, so that
		// the old key can be dropped sooner. Not remembered: the next
		// request with this cookie is resealed too.
		m.writeLocal(w, m.local.seal(raw, exp), exp)
	} else {
		m.opened.put(v, id, true, exp, now)
	}
	return newCachedUser(id, true, ""), identified, nil
}

// mintLocal gives the visitor a fresh local ID: no call to Descope. reason
// is the provisioned event's: "" or "overflow".
func (m *Middleware) mintLocal(w http.ResponseWriter, r *http.Request, reason string) (*User, error) {
	ctx := r.Context()
	id, err := newLocalID()
	if err != nil {
		return nil, during("new local ID", err)
	}
	exp := m.now().Add(m.cfg.lifetime).Unix()
	sealed := m.local.seal(id, exp)
	m.writeLocal(w, sealed, exp)
	u := newMintedUser(User{ID: localIDString(id), Anonymous: true, New: true}, "", "", sealed)
	m.cfg.logger.Debug("anonymous visitor provisioned", "user", u.ID, "strategy", LocalIDs)
	m.obs.emit(ctx, Event{Kind: EventProvisioned, Strategy: LocalIDs, Reason: reason, User: u})
	return u, nil
}

// writeLocal sets the local ID cookie.
func (m *Middleware) writeLocal(w http.ResponseWriter, value string, exp int64) {
	h := w.Header()
	markVary(h)
	PreventSharedCaching(h)
	http.SetCookie(w, m.cookie(m.local.name, value, exp))
}

// clearLocal expires the local ID cookie.
func (m *Middleware) clearLocal(w http.ResponseWriter) {
	if m.local == nil {
		return
	}
	h := w.Header()
	markVary(h)
	PreventSharedCaching(h)
	c := m.cookie(m.local.name, "", 0)
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// localProof checks that r carries the local cookie of u: for conversion and
// promotion, what the refresh cookie is for a Descope identity, the proof
// that the request is the visitor's own. A visitor given its local ID on r
// holds no cookie yet: the cookie just written is its proof (mintedInForce).
func (m *Middleware) localProof(r *http.Request, u *User) (exp int64, err error) {
	if m.local == nil {
		return 0, fmt.Errorf("%w: local IDs are not configured", ErrNoSession)
	}
	v, dup := cookieValue(r, m.local.name)
	if f, ok := mintedInForce(u); ok && f.local != "" {
		v, dup = f.local, false // minted on r: its cookie is on the response
	}
	switch {
	case dup:
		return 0, ErrDuplicateCookie
	case v == "":
		return 0, fmt.Errorf("%w: no local ID cookie", ErrNoSession)
	}
	id, exp, _, ok := m.local.open(v, m.now().Unix())
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: local ID cookie refused", ErrInvalidToken)
	case localIDString(id) != u.ID:
		return 0, fmt.Errorf("%w: local ID cookie of another visitor", ErrInvalidToken)
	}
	return exp, nil
}
