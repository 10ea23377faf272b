package anonymous

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Keys of the refresh state. Each names a refresh token by a digest of it,
// never by the token itself.
const (
	refreshResultKey = "rf:res:"  // + id: claimed, then the sealed outcome of spending the token (shared)
	refreshFromKey   = "rf:from:" // + id of a rotated-in token: the id of the token spent for it (shared)
	refreshRejectKey = "rf:rej:"  // + id: when Descope first rejected the token (local)
	refreshGoneKey   = "rf:gone:" // + id: the token was retired here, by logout or conversion (local)
)

// rejectionMemory is how long a rejected or retired refresh token is
// remembered by the replica that saw it.
const rejectionMemory = 10 * refreshGrace

// claimSize is the size of a claim on a refresh token, the value of its
// outcome's key while a replica is spending it: a zero byte and the claim's
// time in unix milliseconds, shorter than any sealed outcome.
const claimSize = 9

func (m *Middleware) newClaim() []byte {
	return binary.BigEndian.AppendUint64([]byte{0}, uint64(m.now().UnixMilli()))
}

// claimAge is how long ago a claim was made.
func (m *Middleware) claimAge(claim []byte) time.Duration {
	if len(claim) != claimSize {
		return 0
	}
	return m.now().Sub(time.UnixMilli(int64(binary.BigEndian.Uint64(claim[1:]))))
}

// errRefreshHeld means a refresh was not attempted: the shared store is down,
// and refresh tokens rotate (or this replica has not seen a refresh yet), so
// spending the token here could race another replica spending it too, which
// Descope may take for reuse of a stolen token and answer by revoking the
// whole session.
var errRefreshHeld = errors.New("anonymous: refresh held while the shared store is down")

// errUnusableRecord means a stored refresh outcome could not be opened or
// its tokens did not verify. The token it is stored for is not spent again
// while it lasts: the visitor is served Degraded.
var errUnusableRecord = errors.New("anonymous: unusable refresh record")

// errStaleRecord means a stored refresh outcome holds a session token that
// has expired since, and no rotated refresh token: spending the refresh
// token again is harmless, and gives the visitor a live session.
var errStaleRecord = errors.New("anonymous: stale refresh record")

// refreshSecrets are derived from a refresh token with HKDF-SHA256 under two
// labels: the name its outcome is stored under, and the key that seals the
// outcome. Neither reveals the other, and neither the token; only a holder of
// the refresh token can find and open the new tokens its refresh produced, so
// a dump of the store alone yields no usable token.
type refreshSecrets struct {
	id  string
	key []byte
}

func deriveRefreshSecrets(token string) refreshSecrets {
	prk, _ := hkdf.Extract(sha256.New, []byte(token), []byte("github.com/descope-contrib/anonymous"))
	id, _ := hkdf.Expand(sha256.New, prk, "refresh outcome name v1", 24)
	key, _ := hkdf.Expand(sha256.New, prk, "refresh outcome key v1", 32)
	return refreshSecrets{id: base64.RawURLEncoding.EncodeToString(id), key: key}
}

// refreshRecord is the outcome of a refresh as the store keeps it, sealed.
type refreshRecord struct {
	Session string `json:"s,omitempty"` // the new session token
	Refresh string `json:"r,omitempty"` // the rotated-in refresh token, if any
	Failure int    `json:"f,omitempty"` // 0 success, else one of the failure kinds
}

// Failure kinds of a refreshRecord.
const (
	failedTransient = 1 // Descope could not be reached
	failedRejected  = 2 // Descope rejected the refresh token
)

// seal encrypts rec with AES-256-GCM under the key of sec, bound to its name.
func (sec refreshSecrets) seal(rec refreshRecord) ([]byte, error) {
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	aead, err := sec.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(sec.id)), nil
}

// aead is AES-256-GCM under the key of sec.
func (sec refreshSecrets) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(sec.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// open decrypts a record sealed under sec.
func (sec refreshSecrets) open(sealed []byte) (refreshRecord, error) {
	var rec refreshRecord
	aead, err := sec.aead()
	if err != nil {
		return rec, err
	}
	if len(sealed) < aead.NonceSize() {
		return rec, errUnusableRecord
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(sec.id))
	if err != nil {
		return rec, errUnusableRecord
	}
	if err := json.Unmarshal(plain, &rec); err != nil {
		return rec, errUnusableRecord
	}
	return rec, nil
}

// refreshVia spends token, a refresh token of userID. With a shared store that
// answers, replicas agree through it on who calls Descope (sharedRefresh).
// With a shared store that is down, unless this replica has seen that
// refresh tokens do not rotate, the refresh is held (errRefreshHeld): the
// visitor keeps its identity, Degraded, until the store is back. Otherwise
// this process calls Descope itself.
func (m *Middleware) refreshVia(ctx context.Context, rt *presentedRefresh, userID string) (refreshResult, error) {
	if m.state.configured() {
		if m.state.available(ctx) {
			res, err := m.sharedRefresh(ctx, rt, userID)
			if !errors.Is(err, errStoreDown) {
				return res, err
			}
		}
		if m.rotation.Load() != rotationOff {
			return refreshResult{shared: true}, errRefreshHeld
		}
	}
	return m.callRefresh(ctx, rt.jwt)
}

// sharedRefresh spends a refresh token once for every replica, through one
// key per token. A replica that finds it absent claims it (set if absent)
// and calls Descope, then replaces the claim with the outcome, sealed. One
// that finds the outcome uses it. One that finds a claim polls for the
// outcome a bounded time (the Descope timeout and a margin), then gives up
// with a transient error: the visitor is served Degraded (at once, for a
// claim older than that). Claim and outcome
// share the key, so no replica can miss the one and take the other: a token
// is never spent twice while its key lives. A claim whose holder could not
// store the outcome (it crashed, or the store failed) lives refreshGrace: a
// token that may have been spent is not spent again, which rotation could
// take for reuse of a stolen token. An error wrapping errStoreDown means the
// store failed on the way.
func (m *Middleware) sharedRefresh(ctx context.Context, rt *presentedRefresh, userID string) (refreshResult, error) {
	token := rt.jwt
	sec := deriveRefreshSecrets(token)
	key := refreshResultKey + sec.id
	patience := m.cfg.timeout + 5*m.state.timeout
	deadline := time.Now().Add(patience)
	delay := 5 * time.Millisecond
	for {
		var (
			val   []byte
			found bool
		)
		err := m.state.call(ctx, func(ctx context.Context, st Store) (err error) {
			val, found, err = st.Get(ctx, key)
			return err
		})
		if err != nil {
			return refreshResult{shared: true}, err
		}
		claim := !found
		if found && len(val) > claimSize {
			res, err := m.refreshOutcome(ctx, sec, val, userID)
			if !errors.Is(err, errStaleRecord) {
				if errors.Is(err, errUnusableRecord) {
					err = wrap(ErrUnavailable, err)
				}
				res.shared = true
				return res, err
			}
			// Refresh tokens do not rotate: spending this one again is
			// harmless, even by two replicas at once.
			claim = true
		}
		if claim {
			// A forged token gets no claim: the SDK's own check of it
			// comes only after. A token with an outcome was spent, so
			// checked, already.
			if err := rt.genuine(); err != nil {
				return refreshResult{shared: true}, err
			}
			mine := found
			err = m.state.call(ctx, func(ctx context.Context, st Store) (err error) {
				if found {
					return st.Set(ctx, key, m.newClaim(), refreshGrace)
				}
				mine, err = st.SetNX(ctx, key, m.newClaim(), refreshGrace)
				return err
			})
			if err != nil {
				return refreshResult{shared: true}, err
			}
			if mine {
				res, err := m.callRefresh(ctx, token)
				m.keepRefresh(ctx, sec, res, err)
				res.shared = true
				return res, err
			}
		}
		if !time.Now().Before(deadline) || (found && !claim && m.claimAge(val) > patience) {
			// The claimant is late, or gone: its claim stands (the token
			// may be spent), and this visitor is served Degraded.
			return refreshResult{shared: true}, wrap(ErrUnavailable, errors.New("refresh by another replica did not finish in time"))
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// refreshOutcome opens a stored outcome and checks its tokens as if Descope
// had just sent them: a record that does not open, or whose tokens do not
// verify or belong to another user, is errUnusableRecord; one whose session
// has expired since, with no rotated refresh token, is errStaleRecord.
func (m *Middleware) refreshOutcome(ctx context.Context, sec refreshSecrets, sealed []byte, userID string) (refreshResult, error) {
	rec, err := sec.open(sealed)
	if err != nil {
		return refreshResult{}, errUnusableRecord
	}
	switch rec.Failure {
	case 0:
	case failedTransient:
		return refreshResult{}, wrap(ErrUnavailable, errors.New("refresh failed on another replica"))
	case failedRejected:
		return refreshResult{}, wrap(ErrInvalidToken, errRejectedElsewhere)
	default:
		return refreshResult{}, errUnusableRecord
	}
	// The record's tokens are verified as the refresh's own call to Descope
	// would be made: bounded, and detached from the request.
	ctx, cancel := m.callContext(ctx)
	defer cancel()
	session, err := m.validate(ctx, rec.Session)
	if err != nil || m.checkIssued(session, "DS") != nil || session.ID != userID {
		return refreshResult{}, errUnusableRecord
	}
	res := refreshResult{session: session, at: m.now()}
	if rec.Refresh == "" && session.Expiration <= res.at.Unix() {
		return refreshResult{}, errStaleRecord
	}
	if rec.Refresh != "" {
		refresh, err := m.validate(ctx, rec.Refresh)
		if err != nil || m.checkClaims(refresh, "DSR") != nil || refresh.ID != userID {
			return refreshResult{}, errUnusableRecord
		}
		res.refresh = refresh
	}
	m.noteRotation(res.refresh != nil)
	return res, nil
}

// keepRefresh replaces the claim on a refresh token with the outcome of
// spending it, sealed, for the other replicas: a success that rotated the
// token in for refreshGrace, since spending it again would be reuse; one
// that did not for refreshGrace too, but not much past the new session's
// expiry (at least failureMemory, so that the requests sent in parallel with
// a very short session still find it); Descope's answer that the token is
// not live for rejectedFor, since that answer does not change; another
// failure for failureMemory. A store that fails on the way is only reported:
// the outcome is this replica's to use anyway.
func (m *Middleware) keepRefresh(ctx context.Context, sec refreshSecrets, res refreshResult, refreshErr error) {
	rec, ttl := refreshRecord{}, failureMemory
	switch {
	case refreshErr == nil:
		rec.Session = res.session.JWT
		if res.refresh != nil {
			rec.Refresh = res.refresh.JWT
		}
		ttl = min(refreshGrace, max(failureMemory, time.Unix(res.session.Expiration, 0).Sub(m.now())))
		if res.refresh != nil {
			ttl = refreshGrace
		}
	case isTransient(refreshErr):
		rec.Failure = failedTransient
	case descopeRejected(refreshErr):
		rec.Failure, ttl = failedRejected, rejectedFor
	default:
		rec.Failure = failedRejected
	}
	sealed, err := sec.seal(rec)
	if err != nil {
		m.cfg.logger.Warn("refresh outcome not sealed", "err", err)
		return
	}
	_ = m.state.call(ctx, func(ctx context.Context, st Store) error {
		if err := st.Set(ctx, refreshResultKey+sec.id, sealed, ttl); err != nil {
			return err
		}
		if rec.Refresh == "" {
			return nil
		}
		next := deriveRefreshSecrets(rec.Refresh)
		return st.Set(ctx, refreshFromKey+next.id, []byte(sec.id), refreshGrace)
	})
}

// forgetRefresh drops what the store keeps of a refresh token that was
// retired (logout, conversion): the outcome of spending it, and the outcome
// of the refresh that rotated it in, which would otherwise still hand it out.
// It also notes, for this replica, that the token was retired on purpose, so
// that a rejection of it is final at once.
func (m *Middleware) forgetRefresh(token string) {
	sec := deriveRefreshSecrets(token)
	ctx := context.Background()
	_ = m.state.local.Set(ctx, refreshGoneKey+sec.id, nil, rejectionMemory)
	if !m.state.configured() {
		return
	}
	_ = m.state.call(ctx, func(ctx context.Context, st Store) error {
		if err := st.Del(ctx, refreshResultKey+sec.id); err != nil {
			return err
		}
		from, ok, err := st.Get(ctx, refreshFromKey+sec.id)
		if err != nil || !ok {
			return err
		}
		if err := st.Del(ctx, refreshResultKey+string(from)); err != nil {
			return err
		}
		return st.Del(ctx, refreshFromKey+sec.id)
	})
}

// sharedSuccessor returns the refresh token that spending token rotated in,
// when the shared store holds the outcome of that refresh (for refreshGrace
// after it). It reads the store only while it answers.
func (m *Middleware) sharedSuccessor(ctx context.Context, token string) (string, bool) {
	if !m.state.configured() {
		return "", false
	}
	sec := deriveRefreshSecrets(token)
	var (
		val   []byte
		found bool
	)
	err := m.state.call(ctx, func(ctx context.Context, st Store) (err error) {
		val, found, err = st.Get(ctx, refreshResultKey+sec.id)
		return err
	})
	if err != nil || !found || len(val) <= claimSize {
		return "", false // no refresh of it, or one under way
	}
	rec, err := sec.open(val)
	if err != nil || rec.Failure != 0 || rec.Refresh == "" {
		return "", false
	}
	return rec.Refresh, true
}

// inRejectionGrace reports whether a refresh token that Descope rejected
// still names its visitor, Degraded, for now. It applies when refresh tokens
// rotate and the rejection was not agreed through a shared store: another
// replica may just have rotated the token, and the visitor's browser then
// holds the new one. The first rejection starts refreshGrace; a token still
// presented after that is given up, and so is one retired here on purpose.
func (m *Middleware) inRejectionGrace(token string) bool {
	if m.rotation.Load() != rotationOn {
		return false
	}
	ctx := context.Background()
	sec := deriveRefreshSecrets(token)
	if _, gone, _ := m.state.local.Get(ctx, refreshGoneKey+sec.id); gone {
		return false
	}
	now := m.now()
	_, _ = m.state.local.SetNX(ctx, refreshRejectKey+sec.id, strconv.AppendInt(nil, now.UnixNano(), 10), rejectionMemory)
	v, ok, _ := m.state.local.Get(ctx, refreshRejectKey+sec.id)
	if !ok {
		return false
	}
	first, err := strconv.ParseInt(string(v), 10, 64)
	return err == nil && now.Sub(time.Unix(0, first)) < refreshGrace
}
