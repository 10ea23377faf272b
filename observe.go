package anonymous

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/descope/go-sdk/descope"
)

// EventKind says what happened in an Event.
type EventKind int

// The events the middleware, conversion and [Cull] report to observers. The
// words in quotes are the values of [Event.Reason]: short, fixed, and never
// user data.
const (
	// EventProvisioned: a visitor got a new anonymous identity. Strategy and
	// User are set; Reason is "overflow" for an overflow identity
	// ([WithOverflow]) and empty otherwise.
	EventProvisioned EventKind = iota + 1
	// EventProvisionSkipped: a request without a session was not provisioned
	// by policy, or because the browser would not keep its cookies. Reason:
	// "crawler" (WithCrawlerMatcher), "skip" (WithSkipProvision),
	// "lazy" (WithLazy), "method" (HEAD or OPTIONS), "credentials" (an
	// Authorization header), "cross_site" (a cross-site request that is not
	// a top-level GET navigation, such as an <img> or <iframe> on another
	// site's page, with SameSite=Lax cookies; any cross-site request with
	// Strict ones; also from Ensure), "subresource" (a resource the browser
	// loads for a page, by its Sec-Fetch-Dest, or a favicon), "prefetch" (a
	// prefetch or prerender), "identify" (a route mounted with
	// [Middleware.Identify]).
	EventProvisionSkipped
	// EventProvisionRefused: provisioning was attempted and refused. Reason:
	// "client_limit" and "global_limit" (WithClientRateLimit,
	// WithGlobalRateLimit), "create_paused" (Descope answered an earlier
	// user create with 429 and its Retry-After has not passed),
	// "descope_limit" (Descope answered this user create with 429),
	// "unavailable" (Descope could not be reached), "error" (anything else).
	// Err is set.
	EventProvisionRefused
	// EventRefreshed: a session was refreshed. User is set.
	EventRefreshed
	// EventDegraded: an expired session could not be refreshed now, and the
	// request went on with a Degraded user (one event per request served so;
	// see User.Degraded for the causes). Err is set.
	EventDegraded
	// EventRefreshRejected: a refresh token was refused, and the visitor
	// may be provisioned anew. Reason: "invalid" (it failed local
	// verification: expired, forged, another project), "descope" (Descope
	// refused it: revoked or expired there).
	EventRefreshRejected
	// EventRefreshFailed: Descope could not be reached to refresh, and no
	// Degraded user was served (WithDegradedIdentity(false), or the keys to
	// verify the refresh token could not be fetched). Err is set.
	EventRefreshFailed
	// EventConversionStarted: StartConversion or StartLinkConversion was
	// called. Method says which ("otp", "link"), as on every conversion
	// event.
	EventConversionStarted
	// EventCodeSent: a one-time code (Method "otp") or a magic link
	// ("link") was sent for a conversion.
	EventCodeSent
	// EventCodeVerified: Descope accepted a one-time code or a magic link
	// token.
	EventCodeVerified
	// EventConverted: an anonymous visitor became a regular user (the same
	// user ID when user-backed; the signed-up or signed-in user when
	// native), or a returning customer was signed in to the existing account
	// that owns the address (without WithMerge). User is set; Reason is
	// "signed_in" for a returning customer signed in to its account (native
	// and local visitors too), empty otherwise.
	EventConverted
	// EventMerged: a visitor was moved into the existing account that
	// owned the address (WithMerge). User is the existing account.
	EventMerged
	// EventResumed: FinishConversion or FinishLinkConversion finished a
	// conversion whose address was already verified, without a code;
	// CompleteConversion (Method "adopt") reports one before EventConverted.
	EventResumed
	// EventPromoted: Promote or PromoteTo lifted a native or local
	// visitor to a Descope anonymous identity. User is set, and Strategy for
	// a local visitor. The identity it created is reported as
	// EventProvisioned too.
	EventPromoted
	// EventDescopeMerged: Descope merged the visitor with another account
	// during verification (ErrDescopeMerged). Err is set.
	EventDescopeMerged
	// EventConversionFailed: a conversion function (StartConversion,
	// FinishConversion, StartLinkConversion, FinishLinkConversion,
	// StartOAuthConversion, FinishOAuthConversion, StartPasskeyConversion,
	// FinishPasskeyConversion, CompleteConversion)
	// failed. Err is set; Reason is [ErrorReason] of Err, as the handlers
	// answer it: "invalid_address", "invalid_code", "invalid_link",
	// "link_url", "invalid_oauth", "oauth_url", "invalid_passkey",
	// "passkey_origin", "invalid_name", "nothing_verified",
	// "not_user_backed", "too_many_attempts", "too_many_codes",
	// "rate_limited", "identifier_in_use", "no_pending_conversion",
	// "conversion_in_progress", "not_anonymous", "no_session",
	// "invalid_token", "duplicate_cookie", "bad_request", "unavailable";
	// "error" for anything else.
	EventConversionFailed
	// EventCacheHit: a session token was found in the verified-token cache
	// (or a local ID cookie in the cache of opened ones).
	EventCacheHit
	// EventCacheMiss: a session token was not in the cache (or the cache is
	// off) and was verified in full; or a local ID cookie was not, and was
	// opened.
	EventCacheMiss
	// EventDescopeCall: a call to Descope (through the go-sdk) returned. Op,
	// Duration and, for a failure, Code and Err are set.
	EventDescopeCall
	// EventCullProgress: Cull finished a batch. Count is the users the batch
	// deleted (in a dry run: would have deleted); Cull is the report so far.
	EventCullProgress
	// EventCullFinished: Cull returned. Cull is its report; Err its error.
	EventCullFinished
	// EventStoreFallback: the shared store (WithStore) failed and the
	// middleware fell back to process-local state (Reason "fallback", Err
	// the failure), or the store answers again (Reason "restored").
	EventStoreFallback
	// EventOverflow: a new visitor arrived while the budget of the
	// configured strategy was spent and got an overflow identity
	// ([WithOverflow]) instead of none. Strategy is its kind (LocalIDs or
	// NativeTokens); Reason says which budget was spent: "global_limit",
	// "create_paused", "descope_limit", or "unavailable" (Descope could not
	// be reached, and a local ID needs no call). The identity is also reported as
	// EventProvisioned, with Reason "overflow".
	EventOverflow
)

var eventNames = [...]string{
	EventProvisioned:       "provisioned",
	EventProvisionSkipped:  "provision_skipped",
	EventProvisionRefused:  "provision_refused",
	EventRefreshed:         "refreshed",
	EventDegraded:          "degraded",
	EventRefreshRejected:   "refresh_rejected",
	EventRefreshFailed:     "refresh_failed",
	EventConversionStarted: "conversion_started",
	EventCodeSent:          "code_sent",
	EventCodeVerified:      "code_verified",
	EventConverted:         "converted",
	EventMerged:            "merged",
	EventResumed:           "resumed",
	EventPromoted:          "promoted",
	EventDescopeMerged:     "descope_merged",
	EventConversionFailed:  "conversion_failed",
	EventCacheHit:          "cache_hit",
	EventCacheMiss:         "cache_miss",
	EventDescopeCall:       "descope_call",
	EventCullProgress:      "cull_progress",
	EventCullFinished:      "cull_finished",
	EventStoreFallback:     "store_fallback",
	EventOverflow:          "overflow",
}

// String returns the kind's name in snake case, such as "provisioned".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// EventKinds returns every kind of event, in order.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, len(eventNames)-1)
	for k := EventProvisioned; int(k) < len(eventNames); k++ {
		out = append(out, k)
	}
	return out
}

// Event is one thing the middleware, conversion or [Cull] did, as an observer
// sees it. Only the fields its Kind documents are set. Kind, Reason, Op, Code
// and Strategy have few values and suit metric attributes; User and Err
// identify people (user IDs, and addresses in Descope's messages): never put
// them in a metric attribute.
type Event struct {
	Kind EventKind
	// Reason says why, in one fixed word (see the kinds).
	Reason string
	// Strategy is how the visitor was provisioned (EventProvisioned) or
	// what it was promoted to (EventPromoted).
	Strategy Strategy
	// User is the visitor, for the kinds that say so; treat it as
	// read-only.
	User *User
	// Op names the Descope operation of an EventDescopeCall: "user.create",
	// "user.load", "user.delete", "user.delete_batch", "user.search",
	// "user.remove_tenant", "user.update_login_id", "jwt.sign_in",
	// "jwt.anonymous", "session.refresh", "session.validate" (local, except
	// when the keys are fetched), "auth.logout", "otp.sign_up_or_in",
	// "otp.update_email", "otp.update_phone", "otp.verify",
	// "magiclink.sign_up_or_in", "magiclink.update_email",
	// "magiclink.update_phone", "magiclink.verify", "oauth.sign_up_or_in",
	// "oauth.exchange", "webauthn.update_start", "webauthn.update_finish",
	// "webauthn.sign_in_start", "webauthn.sign_in_finish",
	// "webauthn.sign_up_or_in_start", "webauthn.sign_up_finish", "tenant.load",
	// "tenant.search", "tenant.create", "tenant.get_settings",
	// "tenant.configure_settings".
	Op string
	// Method is how the visitor proved an identifier, for the conversion
	// kinds (EventConversionStarted to EventResumed, EventDescopeMerged,
	// EventConversionFailed): "otp" (a one-time code), "link" (a magic
	// link), "oauth" (a social login), "passkey" (a passkey) or "adopt"
	// (an identifier verified outside the library,
	// [Middleware.CompleteConversion]).
	Method string
	// Duration is how long the Descope call took (EventDescopeCall).
	Duration time.Duration
	// Code classifies a failed Descope call: Descope's error code (such as
	// "E061103"), or "timeout", "canceled", "network", "error". It is empty
	// on success, and on a refusal that is the answer the caller expects
	// (the "user not found" of the check that an address is nobody's, the
	// "logged out" of a revoke of a token already dead), which carries no
	// Err either.
	Code string
	// Err is the error of a failure.
	Err error
	// Count is the number of users a cull batch deleted (EventCullProgress).
	Count int
	// Cull is the cull report (EventCullProgress, EventCullFinished).
	Cull *CullReport
}

// WithObserver adds a function that is called with every Event, on the
// goroutine that caused it (usually the request's; a token signed with a key
// not yet fetched is verified on a goroutine of its own, whose events may
// come after its request was answered) and so concurrently: it must be safe
// for that, fast, must not block (count, don't call out) and must not panic
// (on the request's goroutine nothing recovers it; inside a refresh or a key
// check it fails that step). Observers are called in the order they were
// added; [WithOnProvision] and [WithOnRefresh] are observers too. The module
// github.com/descope-contrib/anonymous/otelanon turns events into
// OpenTelemetry metrics and spans. Defaults to none, and then no event costs
// anything.
func WithObserver(f func(context.Context, Event)) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("anonymous: nil observer")
		}
		c.observers = append(c.observers, f)
		return nil
	}
}

// observer delivers events to the observers, if any, and keeps what Healthy
// reports of the calls to Descope. A nil *observer does nothing.
type observer struct {
	fn  func(context.Context, Event) // nil: nobody observes
	now func() time.Time

	answered atomic.Int64           // unix nanoseconds: Descope last answered a call
	failed   atomic.Int64           // unix nanoseconds: a call last failed to reach Descope
	failCode atomic.Pointer[string] // Code of that failure
	limited  atomic.Int64           // unix nanoseconds: Descope last answered with its rate limit
}

// newObserver combines the configured observers and the hooks that are
// observers now.
func newObserver(cfg *config) *observer {
	fns := slices.Clone(cfg.observers)
	if f := cfg.onProvision; f != nil {
		fns = append(fns, func(ctx context.Context, e Event) {
			if e.Kind == EventProvisioned {
				f(ctx, e.User)
			}
		})
	}
	if f := cfg.onRefresh; f != nil {
		fns = append(fns, func(ctx context.Context, e Event) {
			if e.Kind == EventRefreshed {
				f(ctx, e.User)
			}
		})
	}
	o := &observer{now: cfg.now}
	switch len(fns) {
	case 0:
	case 1:
		o.fn = fns[0]
	default:
		o.fn = func(ctx context.Context, e Event) {
			for _, f := range fns {
				f(ctx, e)
			}
		}
	}
	return o
}

// emit hands e to the observers.
func (o *observer) emit(ctx context.Context, e Event) {
	if o != nil && o.fn != nil {
		o.fn(ctx, e)
	}
}

// start returns the time a Descope call starts, for done; the zero time
// when nobody observes.
func (o *observer) start() time.Time {
	if o == nil || o.fn == nil {
		return time.Time{}
	}
	return time.Now()
}

// opValidate is the SDK's token validation: local, unless the keys must be
// fetched, so its success says nothing of Descope's health.
const opValidate = "session.validate"

// done records a Descope call that started at start (from o.start) and
// returned err, and reports it to the observers.
func (o *observer) done(ctx context.Context, op string, start time.Time, err error) {
	if o == nil {
		return
	}
	code := errorCode(err)
	switch {
	case err != nil && isRateLimit(err):
		// An answer: Descope is there, and its limits are the project's,
		// so no other replica would fare better (see Healthy).
		now := o.now().UnixNano()
		o.limited.Store(now)
		o.answered.Store(now)
	case err != nil && isTransient(err):
		o.failed.Store(o.now().UnixNano())
		o.failCode.Store(&code)
	case op != opValidate:
		o.answered.Store(o.now().UnixNano())
	}
	if o.fn != nil {
		o.fn(ctx, Event{Kind: EventDescopeCall, Op: op, Duration: time.Since(start), Code: code, Err: err})
	}
}

// errorCode classifies a failed call for [Event.Code].
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	if de := descope.AsError(err); de != nil && de.Code != "" {
		return de.Code
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne):
		if ne.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "error"
}

// skipped reports a request not provisioned by policy; it returns false,
// for shouldProvision.
func (m *Middleware) skipped(r *http.Request, reason string) bool {
	m.obs.emit(r.Context(), Event{Kind: EventProvisionSkipped, Reason: reason})
	return false
}

// refusedProvision reports a provisioning that failed with err, and returns
// err.
func (m *Middleware) refusedProvision(ctx context.Context, err error) error {
	reason := "error"
	switch {
	case descope.IsError(err, descope.ErrRateLimitExceeded.Code) || statusOf(err) == http.StatusTooManyRequests:
		reason = "descope_limit"
	case errors.Is(err, ErrUnavailable) || isTransient(err):
		reason = "unavailable"
	}
	m.obs.emit(ctx, Event{Kind: EventProvisionRefused, Reason: reason, Err: err})
	return err
}

// conversionFailed reports the error a conversion step returns through
// *errp; deferred by [Middleware.StartConversion] and [Middleware.FinishConversion]. A Descope merge
// has an event of its own.
func (m *Middleware) conversionFailed(ctx context.Context, errp *error) {
	err := *errp
	if err == nil || errors.Is(err, ErrDescopeMerged) {
		return
	}
	reason := ErrorReason(err)
	if reason == "" {
		reason = "error"
	}
	m.convEvent(ctx, Event{Kind: EventConversionFailed, Reason: reason, Err: err})
}

// progress reports a cull batch that deleted n users; snapshot is called
// only when somebody observes.
func (o *observer) progress(ctx context.Context, n int, snapshot func() CullReport) {
	if o != nil && o.fn != nil {
		r := snapshot()
		o.fn(ctx, Event{Kind: EventCullProgress, Count: n, Cull: &r})
	}
}
