package anonymous

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// What conversions keep in the store ([WithStore]) between requests: the
// pending conversion [Middleware.StartConversion] records for
// [Middleware.FinishConversion], the lock one visitor's conversion or
// promotion holds while it finishes, and the native and local identities
// that were converted or promoted.

// pendingConversion is what [Middleware.StartConversion] records for [Middleware.FinishConversion], so
// that a code only ever verifies the address it was sent to.
type pendingConversion struct {
	Address string `json:"a"`
	Phone   bool   `json:"p,omitempty"`
	// ExistingID is set when the address belongs to another account and
	// merging is allowed: the code then signs in to that account.
	ExistingID string `json:"e,omitempty"`
	// LoginID is the generated login ID the code was sent under, and
	// LoginIDs all the user's login IDs then (a user-backed visitor): what
	// start loaded, so that neither verify nor the next start loads the
	// user again.
	LoginID  string   `json:"l,omitempty"`
	LoginIDs []string `json:"ls,omitempty"`
	// Locked is set once Descope answered that the code is locked after
	// too many wrong attempts: verify then answers ErrTooManyAttempts
	// without asking Descope again, until a new code is sent.
	Locked bool `json:"x,omitempty"`
	// Method is the method that started the conversion ("link"; empty for
	// a one-time code, as records were before methods). A replica that
	// does not know it finishes nothing with it: the method must match.
	Method string `json:"m,omitempty"`
	// Provider and State are a social login's (method "oauth"): the
	// provider asked, and the random state its callback must bring back.
	Provider string `json:"pv,omitempty"`
	State    string `json:"st,omitempty"`
	// Name, Transaction and Ceremony are a passkey's (method "passkey"):
	// the name the visitor chose, Descope's WebAuthn transaction ID, which
	// its finish must bring back, and the ceremony it finishes
	// (passkeyCeremony).
	Name        string `json:"n,omitempty"`
	Transaction string `json:"tx,omitempty"`
	Ceremony    string `json:"cr,omitempty"`
}

const (
	pendingKey = "conv:pending:" // + user ID: the pendingConversion, sealed
	lockKey    = "conv:lock:"    // + user ID: held while a conversion or promotion finishes, or while Cull deletes the user
	retiredKey = "conv:retired:" // + native or local ID: converted or promoted; lives as long as its proof
)

// All of it is kept on the shared store alone when one is configured
// (sharedState.strict): while it does not answer, conversions and
// promotions answer ErrUnavailable rather than act on state that another
// replica cannot see.

// lockConversion makes concurrent [Middleware.FinishConversion] or promotion calls for one
// user (a double submit) wait their turn: the second gets
// ErrConversionInProgress.
func (m *Middleware) lockConversion(ctx context.Context, userID string) (unlock func(), err error) {
	key := conversionLockKey(userID)
	ok, err := m.state.strictSetNX(ctx, key, nil, 8*m.cfg.timeout)
	if err != nil {
		return nil, wrap(ErrUnavailable, err)
	}
	if !ok {
		return nil, ErrConversionInProgress
	}
	return func() { _ = m.state.del(ctx, key) }, nil
}

// conversionLockKey is the store key of userID's conversion lock, which
// [Cull] takes too (CullOptions.Store).
func conversionLockKey(userID string) string { return lockKey + userID }

// setPending records p for userID for codeWindow, sealed (it holds the
// address: see storeKeys).
func (m *Middleware) setPending(ctx context.Context, userID string, p pendingConversion) error {
	b, _ := json.Marshal(p)
	key := pendingKey + userID
	if err := m.state.strictSet(ctx, key, m.state.keys.seal(key, b), codeWindow); err != nil {
		return wrap(ErrUnavailable, err)
	}
	return nil
}

// getPending returns the pending conversion of userID, if any. A record that
// does not open (stored before records were sealed, or under another
// secret) is none.
func (m *Middleware) getPending(ctx context.Context, userID string) (pendingConversion, bool, error) {
	var p pendingConversion
	key := pendingKey + userID
	sealed, ok, err := m.state.strictGet(ctx, key)
	if err != nil {
		return p, false, wrap(ErrUnavailable, err)
	}
	if !ok {
		return p, false, nil
	}
	// A social login's record names no address (method "oauth"), nor
	// does a passkey's (method "passkey").
	b, ok := m.state.keys.open(key, sealed)
	if !ok || json.Unmarshal(b, &p) != nil || (p.Address == "" && p.Method != methodOAuth && p.Method != methodPasskey) {
		return pendingConversion{}, false, nil
	}
	return p, true, nil
}

// dropPending ends the pending conversion of userID.
func (m *Middleware) dropPending(ctx context.Context, userID string) {
	_ = m.state.del(ctx, pendingKey+userID)
}

// retireID notes that the native or local identity id was converted or
// promoted, so that its credentials, which still verify until exp (unix
// seconds), prove nothing to a later conversion or promotion. The
// conversion lock was taken on the same store a moment before; should the
// store fail in between, the identity is left unnoted (and logged): the
// replay it would stop touches only the visitor's own data.
func (m *Middleware) retireID(ctx context.Context, id string, exp int64) {
	ttl := time.Unix(exp, 0).Sub(m.now())
	if ttl <= 0 {
		return
	}
	if err := m.state.strictSet(context.WithoutCancel(ctx), retiredKey+id, nil, ttl); err != nil {
		m.cfg.logger.Warn("retired identity not noted", "anonymous", id, "err", err)
	}
}

// notRetired fails with ErrNoSession when id was converted or promoted
// (retireID), and with ErrUnavailable when the store that would say so does
// not answer.
func (m *Middleware) notRetired(ctx context.Context, id string) error {
	_, gone, err := m.state.strictGet(context.WithoutCancel(ctx), retiredKey+id)
	switch {
	case err != nil:
		return wrap(ErrUnavailable, err)
	case gone:
		return fmt.Errorf("%w: this anonymous identity was converted or promoted", ErrNoSession)
	}
	return nil
}
