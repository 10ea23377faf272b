package descopetest

import (
	"crypto/rsa"
	"time"
)

const (
	// DefaultSessionTTL is the project's session token lifetime unless
	// WithSessionTTL sets another.
	DefaultSessionTTL = 10 * time.Minute
	// DefaultRefreshTTL is the project's refresh token lifetime unless
	// WithRefreshTTL sets another: 4 weeks.
	DefaultRefreshTTL = 4 * 7 * 24 * time.Hour
	// DefaultOTPTTL is how long a one-time code stays valid unless
	// WithOTPTTL sets another.
	DefaultOTPTTL = 5 * time.Minute
)

// config is what the options set. Zero values mean "use the default".
type config struct {
	projectID     string
	managementKey string
	sessionTTL    time.Duration
	refreshTTL    time.Duration
	otpTTL        time.Duration
	rotation      bool
	reuseOff      bool
	secondsUnit   bool
	rateLimits    bool
	origins       []string // normalized, see WithAllowedOrigins
	key           *rsa.PrivateKey
	freshKey      bool
	now           func() time.Time
	methods       methodConfig      // magic links, OAuth, passkeys (options_methods.go)
	template      map[string]string // WithJWTTemplate: claim key → dynamic user key
}

// Option configures an Emulator. Options are applied in order, so a later
// option overrides an earlier one.
type Option func(*config)

// WithProjectID sets the project ID. Default: a random ID starting with "P".
func WithProjectID(id string) Option {
	return func(c *config) { c.projectID = id }
}

// WithManagementKey sets the management key that management calls must
// present. Default: a random key starting with "K".
func WithManagementKey(key string) Option {
	return func(c *config) { c.managementKey = key }
}

// WithSessionTTL sets the project's default session token lifetime, used for
// users who are not in a tenant with its own session settings.
// Default: 10 minutes. A non-positive d is ignored.
func WithSessionTTL(d time.Duration) Option {
	return ifPositive(d, func(c *config) *time.Duration { return &c.sessionTTL })
}

// WithRefreshTTL sets the project's default refresh token lifetime.
// Default: 4 weeks (672h). A non-positive d is ignored.
func WithRefreshTTL(d time.Duration) Option {
	return ifPositive(d, func(c *config) *time.Duration { return &c.refreshTTL })
}

// WithRefreshRotation makes every refresh (and tenant select) return a new
// refresh token and revoke the one presented. Default: off, as on Descope:
// refresh returns only a new session token and the refresh token stays valid
// until it expires or is revoked. With rotation on, presenting a rotated-out
// token revokes its whole session unless WithRefreshReuseDetection(false)
// is given.
func WithRefreshRotation() Option {
	return func(c *config) { c.rotation = true }
}

// WithRefreshReuseDetection sets whether, with WithRefreshRotation,
// presenting a refresh token that rotation has already replaced counts as
// reuse, as of a stolen token. On reuse the emulator revokes every refresh
// token descended from the same sign-in (through refreshes and tenant
// selects), the newest included, and answers E064001.
//
// Descope documents that with rotation on, presenting a rotated-out token
// may be treated as reuse and the whole session revoked (docs.descope.com
// refresh-token rotation). It does not say whether it always is, nor
// whether there is a grace period, so the emulator takes the least
// convenient reading: on by default, no grace period. Two concurrent
// refreshes with the same token end the session. Without WithRefreshRotation
// no token is rotated out and this setting changes nothing.
// Default: on (with rotation).
func WithRefreshReuseDetection(on bool) Option {
	return func(c *config) { c.reuseOff = !on }
}

// WithSecondsUnit lets tenant session settings use the unit "seconds" in
// addition to minutes, hours, days and weeks, so tests can use lifetimes of a
// few seconds. Real Descope rejects "seconds". Default: off.
func WithSecondsUnit() Option {
	return func(c *config) { c.secondsUnit = true }
}

// WithOTPTTL sets how long a one-time code stays valid. Default: 5 minutes.
// A non-positive d is ignored.
func WithOTPTTL(d time.Duration) Option {
	return ifPositive(d, func(c *config) *time.Duration { return &c.otpTTL })
}

// ifPositive returns the Option that sets the duration field picks to d,
// or does nothing when d is not positive.
func ifPositive(d time.Duration, field func(*config) *time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			*field(c) = d
		}
	}
}

// WithRateLimits enforces Descope's documented management rate limits, per
// emulator, in fixed 60-second windows measured on the emulator's clock:
// user create and create/batch share 100 requests; user search 200; user
// update and patch (including /v1/mgmt/user/update/...) 200; every other
// /v1/mgmt/user path 500. A request over a limit gets status 429, a
// Retry-After header with the seconds until the window frees, and an E130429
// body. Default: no limits.
func WithRateLimits() Option {
	return func(c *config) { c.rateLimits = true }
}

// WithKey sets the RSA key that signs tokens. Default: one 2048-bit key
// generated once per process and shared by all emulators, so New is fast.
// A nil key is ignored. The emulator never modifies k.
func WithKey(k *rsa.PrivateKey) Option {
	return func(c *config) {
		if k != nil {
			c.key = k
			c.freshKey = false
		}
	}
}

// WithFreshKey generates a new signing key for this emulator, so that its
// tokens do not validate against another emulator's keys (to act as "another
// project"). It costs a few hundred milliseconds. Default: the shared key.
func WithFreshKey() Option {
	return func(c *config) {
		c.freshKey = true
		c.key = nil
	}
}

// WithClock sets the time source for user created and modified times,
// one-time code expiry, rate-limit windows and the request log. Token iat and
// exp always use the real time.Now, because the SDK checks them against the
// real clock. Default: time.Now. A nil now is ignored.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithAllowedOrigins adds browser origins (such as "https://app.example.com")
// whose pages may call the authentication API (/v1/auth/...) across origins,
// with credentials, as Descope's web SDKs do. Any loopback origin (http or
// https on localhost, 127.0.0.0/8 or [::1], any port) is always allowed.
// Origins compare without case and without a trailing slash. Default: only
// loopback origins.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) {
		for _, o := range origins {
			if o = normOrigin(o); o != "" {
				c.origins = append(c.origins, o)
			}
		}
	}
}
