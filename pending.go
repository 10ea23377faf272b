package anonymous

import (
	"context"
	"encoding/json"
)

// What conversions keep in the store ([WithStore]) between requests: the
// pending conversion [Middleware.StartConversion] records for [Middleware.FinishConversion], and the
// lock one visitor's conversion or promotion holds while it finishes.

// pendingConversion is what [Middleware.StartConversion] records for [Middleware.FinishConversion], so
// that a code only ever verifies the address it was sent to.
type pendingConversion struct {
	Address string `json:"a"`
	Phone   bool   `json:"p,omitempty"`
	// ExistingID is set when the address belongs to another account and
	// merging is allowed: the code then signs in to that account.
	ExistingID string `json:"e,omitempty"`
}

const (
	pendingKey = "conv:pending:" // + user ID: the pendingConversion
	lockKey    = "conv:lock:"    // + user ID: held while a conversion or promotion finishes
)

// lockConversion makes concurrent [Middleware.FinishConversion] or promotion calls for one
// user (a double submit) wait their turn: the second gets
// ErrConversionInProgress.
func (m *Middleware) lockConversion(ctx context.Context, userID string) (unlock func(), err error) {
	ok, err := m.state.setNX(ctx, lockKey+userID, nil, 8*m.cfg.timeout)
	if err != nil {
		return nil, wrap(ErrUnavailable, err)
	}
	if !ok {
		return nil, ErrConversionInProgress
	}
	return func() { _ = m.state.del(ctx, lockKey+userID) }, nil
}

// setPending records p for userID for codeWindow.
func (m *Middleware) setPending(ctx context.Context, userID string, p pendingConversion) error {
	b, _ := json.Marshal(p)
	if err := m.state.set(ctx, pendingKey+userID, b, codeWindow); err != nil {
		return wrap(ErrUnavailable, err)
	}
	return nil
}

// getPending returns the pending conversion of userID, if any.
func (m *Middleware) getPending(ctx context.Context, userID string) (pendingConversion, bool, error) {
	var p pendingConversion
	b, ok, err := m.state.get(ctx, pendingKey+userID)
	if err != nil {
		return p, false, wrap(ErrUnavailable, err)
	}
	if !ok || json.Unmarshal(b, &p) != nil || p.Address == "" {
		return p, false, nil
	}
	return p, true, nil
}

// dropPending ends the pending conversion of userID.
func (m *Middleware) dropPending(ctx context.Context, userID string) {
	_ = m.state.del(ctx, pendingKey+userID)
}
