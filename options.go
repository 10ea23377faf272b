package anonymous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Option configures a Middleware. Options are applied in order after the
// defaults; New validates the result.
type Option func(*config) error

type config struct {
	projectID      string
	tenantName     string
	tenantID       string
	lifetime       time.Duration
	sessionTTL     time.Duration
	sessionCookie  string
	refreshCookie  string
	cookieDomain   string
	cookiePath     string
	cookieSecure   bool
	cookieHTTPOnly bool
	cookieSameSite http.SameSite
	acceptBearer   bool
	timeout        time.Duration
	errorHandler   func(http.ResponseWriter, *http.Request, error)
	logger         *slog.Logger
	loginID        func() string
	isGenerated    func(string) bool
	crawler        func(*http.Request) bool
	skip           func(*http.Request) bool
	clientKey      func(*http.Request) string
	clientLimit    int
	clientPer      time.Duration
	globalLimit    int
	globalPer      time.Duration
	convClientMax  int // WithConversionClientLimit
	lazy           bool
	cacheEntries   int
	cacheBytes     int
	onProvision    func(context.Context, *User)
	onRefresh      func(context.Context, *User)
	observers      []func(context.Context, Event)
	onConvert      func(ctx context.Context, anonymousID string, u *User) error
	onMerge        func(ctx context.Context, anonymous, existing *User) error
	allowMerge     bool
	noReturning    bool     // WithReturningCustomers(false): an owned address is refused at start
	linkURLs       []string // WithLinkURLs: the pages a magic link may open
	oauthURLs      []string // WithOAuthRedirectURLs: the callback pages of social login
	passkeyOrigins []string // WithPasskeyOrigins: the origins whose pages may convert by passkey
	dropLoginID    bool
	degraded       bool
	strategy       Strategy
	localKeys      [][]byte // WithLocalKeys: the first seals, all open
	localCookie    string
	globalSet      bool
	overflow       bool // WithOverflow; its default is set by validateOverflow
	overflowSet    bool
	overflowLimit  *budget // WithOverflowRateLimit; nil: the defaults of each kind
	ipv6PrefixBits int
	secondsOK      bool             // lifetimes under Descope's minimum, for the emulator
	now            func() time.Time // the clock; tests set it
	store          storeConfig
	trustedOrigins []string                    // WithTrustedOrigins
	crossOrigin    *http.CrossOriginProtection // the conversion handlers' judge of cross-origin requests
	loginIDClaims  []string                    // WithLoginIDClaims
}

func defaultConfig() config {
	return config{
		tenantName:     "Anonymous Users",
		lifetime:       365 * 24 * time.Hour,
		sessionTTL:     10 * time.Minute,
		sessionCookie:  "DS",
		refreshCookie:  "DSR",
		localCookie:    "DSL",
		cookiePath:     "/",
		cookieSecure:   true,
		cookieHTTPOnly: true,
		cookieSameSite: http.SameSiteLaxMode,
		acceptBearer:   true,
		timeout:        5 * time.Second,
		logger:         slog.New(slog.DiscardHandler),
		loginID:        NewLoginID,
		isGenerated:    IsGeneratedLoginID,
		crawler:        IsCrawler,
		ipv6PrefixBits: 64,
		now:            time.Now,
		clientLimit:    10,
		clientPer:      time.Minute,
		globalLimit:    100,
		globalPer:      time.Minute,
		convClientMax:  defaultConversionClientLimit,
		cacheEntries:   100_000,
		cacheBytes:     48 << 20,
		dropLoginID:    true,
		degraded:       true,
		loginIDClaims:  []string{defaultLoginIDClaim},
	}
}

// WithProjectID sets the Descope project ID that tokens must belong to.
// Defaults to the project ID the client was configured with.
func WithProjectID(id string) Option {
	return func(c *config) error { c.projectID = id; return nil }
}

// WithTenantName sets the name of the tenant anonymous users belong to; it is
// looked up (and created when missing) once, on first use or in Init.
// Defaults to "Anonymous Users".
func WithTenantName(name string) Option {
	return func(c *config) error {
		if strings.TrimSpace(name) == "" {
			return errors.New("anonymous: tenant name is empty")
		}
		c.tenantName = name
		return nil
	}
}

// WithTenantID sets the ID of the anonymous tenant, skipping the lookup by
// name. The tenant is created with that ID when missing. Defaults to a lookup
// by name.
func WithTenantID(id string) Option {
	return func(c *config) error { c.tenantID = id; return nil }
}

// WithLifetime sets how long an anonymous identity lives without conversion:
// the refresh-token lifetime of the anonymous tenant, the age past which
// Cull deletes an anonymous user, and the life of a local ID cookie. New
// refuses anything but whole minutes (Descope's smallest unit), except with
// [WithEmulatorLifetimes]. Defaults to one year.
func WithLifetime(d time.Duration) Option {
	return func(c *config) error { c.lifetime = d; return nil }
}

// WithSessionTTL sets the lifetime of an anonymous user's session token (DS):
// whole minutes, at least [MinSessionTTL], except with
// [WithEmulatorLifetimes]. Defaults to 10 minutes.
func WithSessionTTL(d time.Duration) Option {
	return func(c *config) error { c.sessionTTL = d; return nil }
}

// WithCookieNames sets the session and refresh cookie names. Defaults to
// "DS" and "DSR", the names Descope's SDKs use.
func WithCookieNames(session, refresh string) Option {
	return func(c *config) error {
		if !validCookieName(session) || !validCookieName(refresh) || session == refresh {
			return fmt.Errorf("anonymous: invalid cookie names %q, %q", session, refresh)
		}
		c.sessionCookie, c.refreshCookie = session, refresh
		return nil
	}
}

// WithCookieDomain sets the Domain attribute of the cookies. Defaults to none
// (host-only cookies).
func WithCookieDomain(domain string) Option {
	return func(c *config) error { c.cookieDomain = domain; return nil }
}

// WithCookiePath sets the Path attribute of the cookies. Defaults to "/".
func WithCookiePath(path string) Option {
	return func(c *config) error {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("anonymous: cookie path %q must start with /", path)
		}
		c.cookiePath = path
		return nil
	}
}

// WithCookieSecure sets the Secure attribute of the cookies. Defaults to true;
// set it to false only for plain-http development servers.
func WithCookieSecure(secure bool) Option {
	return func(c *config) error { c.cookieSecure = secure; return nil }
}

// WithCookieHTTPOnly sets the HttpOnly attribute of the cookies. Defaults to
// true, so scripts cannot read the tokens.
func WithCookieHTTPOnly(httpOnly bool) Option {
	return func(c *config) error { c.cookieHTTPOnly = httpOnly; return nil }
}

// WithCookieSameSite sets the SameSite attribute of the cookies. Defaults to
// http.SameSiteLaxMode. SameSiteNoneMode requires Secure cookies. Unless it
// is SameSiteNoneMode, a cross-site request whose cookies the browser would
// not keep, or would not send, is not provisioned: with Lax, any but a
// top-level GET navigation (a link from another site); with Strict, any.
func WithCookieSameSite(s http.SameSite) Option {
	return func(c *config) error { c.cookieSameSite = s; return nil }
}

// WithBearer sets whether a session token in an "Authorization: Bearer"
// header is accepted. Bearer requests are never provisioned and never get
// cookies. Defaults to true.
func WithBearer(accept bool) Option {
	return func(c *config) error { c.acceptBearer = accept; return nil }
}

// WithTimeout bounds every call to Descope the middleware makes on a request.
// Defaults to 5 seconds.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error { c.timeout = d; return nil }
}

// WithErrorHandler sets the one hook called whenever the middleware cannot
// identify, refresh or provision a visitor, and when a conversion handler
// fails with a 5xx or [ErrDescopeMerged]. If the handler writes a response,
// the request ends there; if it writes nothing, the request goes on without
// a user (or with a Degraded user during a Descope outage). Use [FailClosed]
// to answer 503 instead. Defaults to none: requests go on.
func WithErrorHandler(h func(http.ResponseWriter, *http.Request, error)) Option {
	return func(c *config) error { c.errorHandler = h; return nil }
}

// WithLogger sets the logger for the middleware's own messages. Tokens are
// never logged. Defaults to a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("anonymous: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithLoginIDGenerator sets how the random login ID of a new anonymous user is
// made, and isGenerated tells such IDs apart from real ones ([Cull] and
// conversion rely on it). Defaults to [NewLoginID] and [IsGeneratedLoginID].
func WithLoginIDGenerator(generate func() string, isGenerated func(string) bool) Option {
	return func(c *config) error {
		if generate == nil || isGenerated == nil {
			return errors.New("anonymous: nil login ID generator")
		}
		c.loginID, c.isGenerated = generate, isGenerated
		return nil
	}
}

// WithCrawlerMatcher sets the function that recognises crawlers, which are
// never provisioned. nil provisions crawlers too. Defaults to [IsCrawler].
func WithCrawlerMatcher(match func(*http.Request) bool) Option {
	return func(c *config) error { c.crawler = match; return nil }
}

// WithSkipProvision sets a function that, returning true, stops provisioning for a
// request (existing sessions are still identified and refreshed). Defaults to
// none.
func WithSkipProvision(skip func(*http.Request) bool) Option {
	return func(c *config) error { c.skip = skip; return nil }
}

// WithClientKey sets how provisioning requests are attributed to a client for
// the per-client limit. Behind a proxy, return the address the proxy reports
// (and cut IPv6 addresses to a prefix, as the default does). Defaults to
// ClientIP (the connection's remote address), with IPv6 addresses cut to the
// prefix [WithIPv6Prefix] sets.
func WithClientKey(key func(*http.Request) string) Option {
	return func(c *config) error {
		if key == nil {
			return errors.New("anonymous: nil client key function")
		}
		c.clientKey = key
		return nil
	}
}

// WithIPv6Prefix sets the prefix length to which the default client key cuts
// an IPv6 address: a host or a home network usually holds a whole /64, so
// counting single addresses would let one client spend the global limit.
// IPv4 addresses are counted whole. Defaults to 64; 128 counts single
// addresses.
func WithIPv6Prefix(bits int) Option {
	return func(c *config) error {
		if bits < 16 || bits > 128 {
			return fmt.Errorf("anonymous: IPv6 prefix length %d outside 16..128", bits)
		}
		c.ipv6PrefixBits = bits
		return nil
	}
}

// WithClientRateLimit allows each client at most n provisioned users per
// period; 0 disables the limit. Defaults to 10 per minute. No burst, however
// it is timed around a window's edge, gets more than n (windowKeys).
func WithClientRateLimit(n int, per time.Duration) Option {
	return func(c *config) error { c.clientLimit, c.clientPer = n, per; return nil }
}

// WithGlobalRateLimit allows at most n provisioned visitors per period for
// the whole process; 0 disables the limit. Defaults to 100 per minute,
// Descope's own limit on user creation per project, with NativeTokens to
// 6,000 per minute (Descope's backend limit of 1,000 calls per 10 seconds),
// and with LocalIDs, which calls no one, to 60,000 per minute.
func WithGlobalRateLimit(n int, per time.Duration) Option {
	return func(c *config) error { c.globalLimit, c.globalPer, c.globalSet = n, per, true; return nil }
}

// WithLazy makes the middleware identify and refresh visitors but never
// provision them; handlers call (*Middleware).Ensure when a visitor first
// needs an identity (to store something). Defaults to provisioning on every
// request without a session.
func WithLazy() Option {
	return func(c *config) error { c.lazy = true; return nil }
}

// WithTokenCache bounds the cache of verified session tokens, by entries and
// by bytes of heap, estimated at 160 per entry plus its user ID (about 120
// are measured); either bound at 0 disables the cache. With [LocalIDs] keys,
// a second cache of the same bounds remembers local ID cookies opened under
// the first key. Defaults to 100,000 entries and 48 MiB.
func WithTokenCache(entries, bytes int) Option {
	return func(c *config) error { c.cacheEntries, c.cacheBytes = entries, bytes; return nil }
}

// WithDegradedIdentity sets whether, when Descope cannot be reached to refresh
// an expired session, the request goes on with the user read from the locally
// verified refresh token ([User.Degraded]). Defaults to true. Cookies are never
// cleared during an outage either way.
func WithDegradedIdentity(on bool) Option {
	return func(c *config) error { c.degraded = on; return nil }
}

// WithOnProvision sets a hook called after a new anonymous user was
// provisioned (for metrics). Defaults to none.
func WithOnProvision(f func(context.Context, *User)) Option {
	return func(c *config) error { c.onProvision = f; return nil }
}

// WithOnRefresh sets a hook called after a session was refreshed. Defaults to
// none.
func WithOnRefresh(f func(context.Context, *User)) Option {
	return func(c *config) error { c.onRefresh = f; return nil }
}

// WithOnConvert sets a hook called when a visitor's anonymous identity turns
// into another: after a verified conversion, and on [Middleware.Promote]. anonymousID is
// the ID the application keyed the visitor's data by; u is the visitor now.
// With [UserBacked] conversion u.ID equals anonymousID and the change is
// already made at Descope (a hook error is logged, not undone). With
// NativeTokens or LocalIDs conversion and with Promote the ID changes: the
// hook moves the data, and if it returns an error the visitor keeps the anonymous identity
// and the call fails. Defaults to none.
func WithOnConvert(f func(ctx context.Context, anonymousID string, u *User) error) Option {
	return func(c *config) error { c.onConvert = f; return nil }
}

// WithMerge sets what happens to a returning customer's anonymous user: an
// email or phone that already belongs to another user gets a sign-in code
// for that account, and once the code proves the visitor owns it, the
// visitor is signed in to the existing account, onMerge moves the
// application's data from the anonymous user to the existing one, and the
// anonymous user is deleted (only if onMerge returned nil). Without it a
// returning customer is signed in too ([WithReturningCustomers]), the
// OnConvert hook ([WithOnConvert]) may move the data, and the anonymous user
// is left to [Middleware.Cull].
func WithMerge(onMerge func(ctx context.Context, anonymous, existing *User) error) Option {
	return func(c *config) error {
		if onMerge == nil {
			return errors.New("anonymous: nil merge hook")
		}
		c.allowMerge, c.onMerge = true, onMerge
		return nil
	}
}

// WithReturningCustomers sets what a conversion start does with an email or
// phone that already belongs to another account. On (the default), the
// address gets a sign-in code for that account, answered exactly as a code
// for a new address, so the answer does not tell whether the address is
// registered; the code, once verified, signs the visitor in to that account
// (see [WithMerge] for the anonymous data). Off, such an address gets no
// code and [ErrIdentifierInUse] (409), which tells anyone who asks that the
// address is registered; [WithMerge] turns it on again.
func WithReturningCustomers(on bool) Option {
	return func(c *config) error { c.noReturning = !on; return nil }
}

// WithStrategy selects how new visitors get an identity: [UserBacked] (the
// default), NativeTokens, or LocalIDs (which needs [WithLocalKeys]).
func WithStrategy(s Strategy) Option {
	return func(c *config) error {
		if s != UserBacked && s != NativeTokens && s != LocalIDs {
			return fmt.Errorf("anonymous: unknown strategy %d", int(s))
		}
		c.strategy = s
		return nil
	}
}

// MinSessionTTL is the shortest session token lifetime Descope accepts in a
// tenant's session settings (docs.descope.com, tenant session management).
const MinSessionTTL = 3 * time.Minute

// WithEmulatorLifetimes lets [WithSessionTTL] and [WithLifetime] go below
// Descope's minimum of [MinSessionTTL], down to a second, written in seconds,
// which only the emulator accepts (descopetest.WithSecondsUnit). It is for
// tests and local development against the emulator: real Descope refuses such
// settings. Defaults to off.
func WithEmulatorLifetimes() Option {
	return func(c *config) error { c.secondsOK = true; return nil }
}

// WithKeepLoginID keeps the random login ID of a converted user next to the
// verified email or phone. Defaults to removing it.
func WithKeepLoginID() Option {
	return func(c *config) error { c.dropLoginID = false; return nil }
}

func (c *config) validate() error {
	if c.strategy == NativeTokens && !c.globalSet {
		c.globalLimit, c.globalPer = nativeGlobalLimit, time.Minute
	}
	if err := c.validateLocal(); err != nil {
		return err
	}
	if err := c.validateOverflow(); err != nil {
		return err
	}
	if err := c.validateOrigins(); err != nil {
		return err
	}
	switch {
	case c.lifetime < time.Second:
		return fmt.Errorf("anonymous: lifetime %v is too short", c.lifetime)
	case c.sessionTTL < time.Second:
		return fmt.Errorf("anonymous: session TTL %v is too short", c.sessionTTL)
	case c.sessionTTL < MinSessionTTL && !c.secondsOK:
		return fmt.Errorf("anonymous: session TTL %v is under Descope's minimum of %v", c.sessionTTL, MinSessionTTL)
	case c.sessionTTL > c.lifetime:
		return fmt.Errorf("anonymous: session TTL %v exceeds lifetime %v", c.sessionTTL, c.lifetime)
	case !c.secondsOK && c.sessionTTL%time.Minute != 0:
		return fmt.Errorf("anonymous: session TTL %v is not a whole number of minutes, Descope's smallest unit", c.sessionTTL)
	case !c.secondsOK && c.lifetime%time.Minute != 0:
		return fmt.Errorf("anonymous: lifetime %v is not a whole number of minutes, Descope's smallest unit", c.lifetime)
	case c.timeout <= 0:
		return fmt.Errorf("anonymous: timeout %v must be positive", c.timeout)
	case c.clientLimit < 0 || c.globalLimit < 0:
		return errors.New("anonymous: negative rate limit")
	case c.clientLimit > 0 && c.clientPer <= 0, c.globalLimit > 0 && c.globalPer <= 0:
		return errors.New("anonymous: rate limit period must be positive")
	case c.cacheEntries < 0 || c.cacheBytes < 0:
		return errors.New("anonymous: negative token cache bounds")
	case c.cookieSameSite == http.SameSiteNoneMode && !c.cookieSecure:
		return errors.New("anonymous: SameSite=None cookies must be Secure")
	}
	return nil
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", b) >= 0 {
			return false
		}
	}
	return true
}
