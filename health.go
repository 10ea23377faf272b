package anonymous

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// healthWindow is how long a failure to reach Descope, with no answer since,
// makes [Middleware.Healthy] fail. Past it the middleware reports healthy again, so that a
// readiness probe lets traffic back in, and the next call to Descope says
// whether the outage is over.
const healthWindow = 30 * time.Second

// HealthReport is what the middleware knows of its own readiness, without
// asking Descope anything.
type HealthReport struct {
	// TenantResolved reports whether the anonymous tenant is known (Init, or
	// the first request that needed it, succeeded).
	TenantResolved bool `json:"tenantResolved"`
	// KeysLoaded reports whether a token has verified against Descope's
	// signing keys since start-up, so the keys are fetched. It stays false
	// until the first visitor with a session arrives.
	KeysLoaded bool `json:"keysLoaded"`
	// LastAnswer is when Descope last answered a call (a refusal, such as a
	// wrong code or its rate limit, is an answer). Zero if it never did.
	LastAnswer time.Time `json:"lastAnswer,omitzero"`
	// LastFailure is when a call last failed to reach Descope (network
	// error, timeout, 5xx), and LastFailureCode how (see Event.Code). Zero
	// if none did.
	LastFailure     time.Time `json:"lastFailure,omitzero"`
	LastFailureCode string    `json:"lastFailureCode,omitempty"`
	// LastRateLimited is when Descope last answered a call with its rate
	// limit (429). Zero if it never did. It is an answer, not a failure:
	// Descope's limits are the project's, so another replica would meet
	// them too.
	LastRateLimited time.Time `json:"lastRateLimited,omitzero"`
	// ProvisioningPausedUntil is set while user-backed provisioning is
	// paused because Descope answered user create with 429.
	ProvisioningPausedUntil time.Time `json:"provisioningPausedUntil,omitzero"`
}

// Health reports the middleware's readiness. It makes no call to Descope and
// takes no lock that a call to Descope holds: a probe may call it every few
// seconds.
func (m *Middleware) Health() HealthReport {
	r := HealthReport{KeysLoaded: m.kids.loaded()}
	_, r.TenantResolved = m.knownTenant()
	if ns := m.obs.answered.Load(); ns != 0 {
		r.LastAnswer = time.Unix(0, ns)
	}
	if ns := m.obs.failed.Load(); ns != 0 {
		r.LastFailure = time.Unix(0, ns)
		if code := m.obs.failCode.Load(); code != nil {
			r.LastFailureCode = *code
		}
	}
	if ns := m.obs.limited.Load(); ns != 0 {
		r.LastRateLimited = time.Unix(0, ns)
	}
	if ns := m.createPausedUntil.Load(); m.now().UnixNano() < ns {
		r.ProvisioningPausedUntil = time.Unix(0, ns)
	}
	return r
}

// Healthy returns nil when the middleware is ready to serve, for a readiness
// probe: the anonymous tenant is resolved, and Descope has not failed to
// answer within the last 30 seconds without answering since. Otherwise the
// error wraps [ErrUnavailable] and says which. Signing keys that are not yet
// loaded do not count (they load with the first visitor), nor does
// Descope's rate limit (429, and the provisioning pause that follows one on
// user create): the limits are the project's, so sending traffic to
// another replica would not help, and one visitor's flood must not take
// every replica out of rotation. Like Health, it asks Descope nothing.
//
// While Descope is down the middleware itself keeps serving (returning
// visitors from cache, Degraded identities): fail a readiness probe on
// Healthy only where sending traffic elsewhere helps.
func (m *Middleware) Healthy(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := m.Health()
	if !r.TenantResolved {
		if err := m.lastTenantError(); err != nil {
			return wrap(ErrUnavailable, during("anonymous tenant not resolved", err))
		}
		return fmt.Errorf("%w: anonymous tenant not resolved yet", ErrUnavailable)
	}
	if r.LastFailure.After(r.LastAnswer) && m.now().Sub(r.LastFailure) < healthWindow {
		return fmt.Errorf("%w: descope failed to answer at %s (%s) and has not answered since",
			ErrUnavailable, r.LastFailure.UTC().Format(time.RFC3339), r.LastFailureCode)
	}
	return nil
}

// lastTenantError returns the error of the last attempt to resolve the
// tenant (nil before any), without waiting for an attempt that is running.
func (m *Middleware) lastTenantError() error {
	if !m.tenantMu.TryLock() {
		return errors.New("resolving")
	}
	defer m.tenantMu.Unlock()
	return m.tenantErr
}
