package anonymous

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// verify checks a token locally: signature against Descope's keys (fetched
// once by the SDK), expiry, this project, and the token type (drn). Verified
// session tokens are cached until they expire.
func (m *Middleware) verify(ctx context.Context, tok, drn string) (*User, error) {
	now := m.now().Unix()
	if drn == "DS" {
		if id, anon, ids, ok := m.cache.lookup(tok, now); ok {
			m.obs.emit(ctx, Event{Kind: EventCacheHit})
			u := newCachedUser(id, anon, tok)
			u.LoginIDs = ids
			return u, nil
		}
		m.obs.emit(ctx, Event{Kind: EventCacheMiss})
	}
	if len(tok) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	if !canonicalJWS(tok) {
		// Another spelling of a token is refused before any check, so it
		// is never verified or cached apart. A cached token is canonical:
		// the lookup above needs no such check.
		return nil, errNonCanonical
	}
	kid, ok := tokenKid(tok)
	if !ok {
		return nil, ErrInvalidToken
	}
	if exp, ok := unverifiedExp(tok); ok && exp <= now {
		// Expired whatever its signature: spare the RSA check.
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	var t *descope.Token
	err := m.kids.do(kid, m.cfg.timeout, func() error {
		vt, err := m.validate(ctx, tok)
		if err == nil {
			err = m.checkClaims(vt, drn)
		}
		if err == nil {
			t = vt
		}
		return err
	})
	if err != nil {
		if isTransient(err) {
			return nil, wrap(ErrUnavailable, err)
		}
		return nil, wrap(ErrInvalidToken, err)
	}
	u := m.userFrom(t)
	if drn == "DS" {
		u.LoginIDs = m.claimedLoginIDs(t)
		if _, known := m.knownTenant(); known || u.Anonymous {
			m.cache.putIDs(tok, u.ID, u.Anonymous, u.LoginIDs, t.Expiration, now)
		}
	}
	return u, nil
}

// validate checks a token's signature and expiry through the SDK, against
// Descope's keys (fetched by the SDK when it lacks the token's key), and
// reports the call as opValidate. checkClaims does the rest.
func (m *Middleware) validate(ctx context.Context, tok string) (*descope.Token, error) {
	return observe(m.obs, ctx, opValidate, func(ctx context.Context) (*descope.Token, error) {
		_, t, err := m.c.Auth.ValidateSessionWithToken(ctx, tok)
		return t, err
	})
}

// checkClaims makes the checks the SDK leaves out: the token belongs to this
// project, is of the expected type (drn), and has an expiry not yet passed.
func (m *Middleware) checkClaims(t *descope.Token, drn string) error {
	if t == nil || t.ID == "" {
		return ErrInvalidToken
	}
	if t.ProjectID != m.projectID {
		return fmt.Errorf("%w: token of another project", ErrInvalidToken)
	}
	if t.GetDPoPThumbprint() != "" {
		// Bound to a key whose proof the middleware does not check.
		return fmt.Errorf("%w: DPoP-bound token", ErrInvalidToken)
	}
	if got, _ := t.Claims["drn"].(string); got != drn {
		return fmt.Errorf("%w: %q token where %q was expected", ErrInvalidToken, got, drn)
	}
	if t.Expiration <= m.now().Unix() {
		return fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return nil
}

// userFrom builds the User a verified session token describes.
func (m *Middleware) userFrom(t *descope.Token) *User {
	return &User{ID: t.ID, Anonymous: m.isAnonymous(t), token: t}
}

// isAnonymous reports whether a token says its user is anonymous: a member of
// the anonymous tenant, or a Descope-native anonymous token (danu). A project
// whose JWT template leaves out the tenants claim (the tenantOnly and none
// authorization schemas) still has dct, the selected tenant, which go-sdk's
// GetTenants falls back to as well.
func (m *Middleware) isAnonymous(t *descope.Token) bool {
	if danu, _ := t.Claims["danu"].(bool); danu {
		return true
	}
	tenants, _ := t.Claims["tenants"].(map[string]any)
	dct, _ := t.Claims["dct"].(string)
	if len(tenants) == 0 && dct == "" {
		return false
	}
	tid, ok := m.knownTenant()
	if !ok {
		// First token with tenants since start-up (Init was not called):
		// resolve the tenant now. Until that succeeds the answer is false and
		// the token is not cached.
		var err error
		if tid, err = m.anonTenant(context.Background(), false); err != nil {
			return false
		}
	}
	if _, member := tenants[tid]; member {
		return true
	}
	return len(tenants) == 0 && dct == tid
}

// kidGate serialises the verification of tokens whose key ID has never
// verified. The SDK refetches the whole key set for every unknown kid (and
// without a deadline), so forged tokens with random kids could otherwise make
// every concurrent request a call to Descope; legitimate requests with a new
// kid just wait for the first one to teach the gate that kid. A kid that the
// fetched key set turned out not to hold is remembered for badKidMemory, so a
// flood of one forged token costs one key fetch, and a genuine visitor is not
// kept waiting behind it.
type kidGate struct {
	now     func() time.Time
	once    sync.Once
	unknown chan struct{} // a one-slot semaphore held while an unknown kid is verified
	mu      sync.RWMutex
	known   map[string]struct{}
	bad     map[string]time.Time // kid -> until when it is known to be absent
}

// maxKnownKids bounds the gate's memory of good kids (Descope projects have a
// few keys) and maxBadKids its memory of absent ones.
const (
	maxKnownKids = 64
	maxBadKids   = 1024
	badKidMemory = 10 * time.Second
)

// errKeyWait reports that the verification of a token with an unknown key ID
// did not finish in time (the key set could not be fetched).
var errKeyWait = wrap(ErrUnavailable, errors.New("signing keys not fetched in time"))

// errBadKid reports a token whose kid the project's key set lacks.
var errBadKid = fmt.Errorf("%w: key ID not in the project's key set", ErrInvalidToken)

// isKnown reports whether a token with kid has verified before.
func (g *kidGate) isKnown(kid string) bool {
	known, _ := g.state(kid)
	return known
}

// loaded reports whether any key ID has verified a token.
func (g *kidGate) loaded() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.known) > 0
}

// state reports whether kid is known good, or known absent.
func (g *kidGate) state(kid string) (known, bad bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if _, ok := g.known[kid]; ok {
		return true, false
	}
	until, ok := g.bad[kid]
	return false, ok && g.now().Before(until)
}

// do runs verify for a token with key ID kid. For an unknown kid it runs one
// at a time and waits at most timeout; a verification that succeeds teaches
// the gate the kid, one that finds the kid absent from the key set teaches it
// that. verify runs on another goroutine then, and a panic in it (it parses
// attacker-chosen input) is returned as an error.
func (g *kidGate) do(kid string, timeout time.Duration, verify func() error) error {
	known, bad := g.state(kid)
	switch {
	case known:
		return verify()
	case bad:
		return errBadKid
	}
	g.once.Do(func() { g.unknown = make(chan struct{}, 1) })
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case g.unknown <- struct{}{}:
	case <-timer.C:
		return errKeyWait
	}
	if known, bad := g.state(kid); known || bad {
		<-g.unknown
		if bad {
			return errBadKid
		}
		return verify()
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-g.unknown }()
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: verification panicked: %v", ErrInvalidToken, p)
			}
			done <- err
		}()
		err = verify()
		switch {
		case err == nil:
			g.learn(kid)
		case absentKid(err):
			g.markAbsent(kid)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return errKeyWait
	}
}

func (g *kidGate) learn(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known == nil {
		g.known = make(map[string]struct{})
	}
	if len(g.known) < maxKnownKids {
		g.known[kid] = struct{}{}
	}
}

// markAbsent remembers for a while that the key set lacks kid.
func (g *kidGate) markAbsent(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.bad == nil {
		g.bad = make(map[string]time.Time)
	}
	if len(g.bad) >= maxBadKids {
		for k, until := range g.bad {
			if !now.Before(until) || len(g.bad) >= maxBadKids {
				delete(g.bad, k)
			}
		}
	}
	g.bad[kid] = now.Add(badKidMemory)
}

// absentKid reports whether the SDK failed a token because the fetched key
// set has no key with its kid.
func absentKid(err error) bool {
	de := descope.AsError(err)
	return de != nil && de.Code == descope.ErrPublicKey.Code && strings.Contains(de.Message, "does not exist in key set")
}

// unverifiedExp reads the exp claim of a compact JWS without verifying it,
// only to skip work on a token that is expired anyway.
func unverifiedExp(tok string) (int64, bool) {
	first := strings.IndexByte(tok, '.')
	last := strings.LastIndexByte(tok, '.')
	if first < 0 || last <= first {
		return 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(tok[first+1 : last])
	if err != nil {
		return 0, false
	}
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == nil {
		return 0, false
	}
	f, err := c.Exp.Float64()
	return int64(f), err == nil
}

// decodeToken decodes a compact JWS into the same *descope.Token the SDK
// returns when it verifies one, without checking the signature or any claim:
// the caller has verified tok, or is about to. It returns nil if tok cannot
// be parsed.
func decodeToken(tok string) *descope.Token {
	t, err := jwt.ParseString(tok, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return nil
	}
	return descope.NewToken(tok, t)
}

// tokenKid reads the kid of a compact JWS header, rejecting anything that is
// not three base64url segments with an RS/ES/PS-signed header.
func tokenKid(tok string) (string, bool) {
	dot := strings.IndexByte(tok, '.')
	if dot <= 0 || strings.Count(tok, ".") != 2 || dot > 1024 {
		return "", false
	}
	var buf [768]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok[:dot]))
	if err != nil {
		return "", false
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(buf[:n], &h) != nil || h.Kid == "" {
		return "", false
	}
	switch h.Alg {
	case "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512":
		return h.Kid, true
	}
	return "", false
}
