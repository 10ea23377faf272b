// Package otelanon turns the events of the anonymous middleware into
// OpenTelemetry metrics, and its calls to Descope into spans. It is a module
// of its own, so the middleware's module depends on no OpenTelemetry package.
//
//	inst, err := otelanon.New(otelanon.WithMeterProvider(mp), otelanon.WithTracerProvider(tp))
//	if err != nil { ... }
//	anon, err := anonymous.New(client, inst.Option())
//	...
//	report, err := anonymous.Cull(ctx, client, anonymous.CullOptions{Observer: inst.Observe})
//
// The metrics (the Prometheus exporter names each in snake case, counters
// with a _total suffix, the histogram with _seconds):
//
//	anonymous.provisioned{strategy}                     visitors given an anonymous identity
//	anonymous.provision.skipped{reason}                 requests not provisioned by policy, or cross-site (cookies not kept)
//	anonymous.provision.refused{reason}                 provisionings refused or failed
//	anonymous.refreshes{outcome,reason}                 refreshes: refreshed, degraded, rejected, failed
//	anonymous.conversion{step,method,reason}            conversion steps by method (otp, link, adopt), failures with a reason
//	anonymous.cache.lookups{result}                     session-token (and local ID cookie) cache lookups: hit, miss
//	anonymous.descope.call.duration{operation,error_code} seconds per call to Descope
//	anonymous.cull.deleted{dry_run}                     users Cull deleted
//	anonymous.cull.runs{outcome}                        Cull runs: ok, error
//	anonymous.store.fallbacks{reason}                   shared store mode changes: fallback, restored
//	anonymous.overflow{strategy,reason}                 new visitors given an overflow identity, and why
//
// The reasons of anonymous.provision.skipped are those of
// [anonymous.EventProvisionSkipped]: crawler, skip, lazy, method,
// credentials, subresource (a resource a browser loads for a page, or a
// favicon), prefetch (a prefetch or prerender) and identify (a route
// mounted with Identify). error_code is set only on a call that failed: an
// answer the middleware expects (an address that is nobody's login ID) has
// none.
//
// anonymous.cache.lookups is an asynchronous counter: a cache hit, the one
// event of a returning visitor's request, costs an atomic add, and the SDK
// reads the count when it collects.
//
// Attribute values come from short fixed lists (see [anonymous.Event]): never
// a user ID, login ID, address or token. Each call to Descope is a span
// named "descope." plus the operation (such as "descope.user.create"), of
// kind client, a child of the span in the request's context, recorded when
// the call returns with its real start time.
package otelanon

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/descope-contrib/anonymous"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/descope-contrib/anonymous/otelanon"

// The metric names. They are stable: a dashboard may rely on them.
const (
	MetricProvisioned     = "anonymous.provisioned"
	MetricProvisionSkip   = "anonymous.provision.skipped"
	MetricProvisionRefuse = "anonymous.provision.refused"
	MetricRefreshes       = "anonymous.refreshes"
	MetricConversion      = "anonymous.conversion"
	MetricCacheLookups    = "anonymous.cache.lookups"
	MetricDescopeDuration = "anonymous.descope.call.duration"
	MetricCullDeleted     = "anonymous.cull.deleted"
	MetricCullRuns        = "anonymous.cull.runs"
	MetricStoreFallbacks  = "anonymous.store.fallbacks"
	MetricOverflow        = "anonymous.overflow"
)

// The attribute keys.
const (
	KeyStrategy  = attribute.Key("strategy")   // "user-backed", "native", "local"
	KeyReason    = attribute.Key("reason")     // anonymous.Event.Reason
	KeyOutcome   = attribute.Key("outcome")    // refreshes and cull runs
	KeyStep      = attribute.Key("step")       // conversion
	KeyMethod    = attribute.Key("method")     // conversion: anonymous.Event.Method ("otp", "link", "adopt")
	KeyResult    = attribute.Key("result")     // cache lookups: "hit", "miss"
	KeyOperation = attribute.Key("operation")  // anonymous.Event.Op
	KeyErrorCode = attribute.Key("error_code") // anonymous.Event.Code; absent on success
	KeyDryRun    = attribute.Key("dry_run")    // cull
)

// durationBuckets are the histogram's bucket bounds in seconds, from a fast
// management call to the middleware's default 5-second timeout and beyond.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Option configures New.
type Option func(*config)

type config struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

// WithMeterProvider sets where the metrics go. Defaults to the global
// MeterProvider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets where the spans go. Defaults to the global
// TracerProvider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// Instrumentation records the events of one or more middlewares (and Cull
// runs). It is safe for concurrent use.
type Instrumentation struct {
	tracer trace.Tracer

	provisioned     metric.Int64Counter
	skipped         metric.Int64Counter
	refused         metric.Int64Counter
	refreshes       metric.Int64Counter
	conversion      metric.Int64Counter
	descopeDuration metric.Float64Histogram
	cullDeleted     metric.Int64Counter
	cullRuns        metric.Int64Counter
	storeFallbacks  metric.Int64Counter
	overflow        metric.Int64Counter

	// The hot path: a returning visitor is one cache hit, counted here and
	// read by the SDK when it collects (an observable counter).
	hits, misses atomic.Int64
}

// New creates the instruments. It returns an error when the MeterProvider
// refuses one.
func New(opts ...Option) (*Instrumentation, error) {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	meter := cfg.mp.Meter(ScopeName)
	i := &Instrumentation{tracer: cfg.tp.Tracer(ScopeName)}
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return c
	}
	i.provisioned = counter(MetricProvisioned, "{visitor}", "Visitors given a new anonymous identity.")
	i.skipped = counter(MetricProvisionSkip, "{request}", "Requests without a session that were not provisioned, by policy or because the browser would not keep the cookies (reason cross_site).")
	i.refused = counter(MetricProvisionRefuse, "{request}", "Provisionings refused by a limit or failed at Descope.")
	i.refreshes = counter(MetricRefreshes, "{refresh}", "Session refreshes by outcome; degraded counts requests served with a Degraded identity.")
	i.conversion = counter(MetricConversion, "{event}", "Conversion steps: started, code_sent, code_verified, converted, merged, resumed, promoted, descope_merged, failed.")
	i.cullDeleted = counter(MetricCullDeleted, "{user}", "Anonymous users Cull deleted (in a dry run: would have deleted).")
	i.cullRuns = counter(MetricCullRuns, "{run}", "Cull runs by outcome.")
	i.storeFallbacks = counter(MetricStoreFallbacks, "{change}", "Changes of the shared store's mode: fallback to local state, restored.")
	i.overflow = counter(MetricOverflow, "{visitor}", "New visitors given an overflow identity (local or native) because a budget was spent, by kind and reason.")
	if err != nil {
		return nil, err
	}
	hit := metric.WithAttributeSet(attribute.NewSet(KeyResult.String("hit")))
	miss := metric.WithAttributeSet(attribute.NewSet(KeyResult.String("miss")))
	_, err = meter.Int64ObservableCounter(MetricCacheLookups, metric.WithUnit("{lookup}"),
		metric.WithDescription("Lookups of session tokens in the verified-token cache."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if n := i.hits.Load(); n > 0 {
				o.Observe(n, hit)
			}
			if n := i.misses.Load(); n > 0 {
				o.Observe(n, miss)
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	i.descopeDuration, err = meter.Float64Histogram(MetricDescopeDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls to Descope, by operation and error code."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, err
	}
	return i, nil
}

// Option returns the middleware option that installs the instrumentation:
// [anonymous.WithObserver](i.Observe).
func (i *Instrumentation) Option() anonymous.Option {
	return anonymous.WithObserver(i.Observe)
}

// withMethod adds the method attribute to attrs when the event names one
// (promotion, and events of older versions, name none).
func withMethod(e anonymous.Event, attrs ...attribute.KeyValue) []attribute.KeyValue {
	if e.Method != "" {
		attrs = append(attrs, KeyMethod.String(e.Method))
	}
	return attrs
}

// conversionSteps is the step attribute of each conversion event.
var conversionSteps = map[anonymous.EventKind]string{
	anonymous.EventConversionStarted: "started",
	anonymous.EventCodeSent:          "code_sent",
	anonymous.EventCodeVerified:      "code_verified",
	anonymous.EventConverted:         "converted",
	anonymous.EventMerged:            "merged",
	anonymous.EventResumed:           "resumed",
	anonymous.EventPromoted:          "promoted",
	anonymous.EventDescopeMerged:     "descope_merged",
	anonymous.EventConversionFailed:  "failed",
}

// Observe records one event. Pass it as CullOptions.Observer, or install it
// on a middleware with Option.
func (i *Instrumentation) Observe(ctx context.Context, e anonymous.Event) {
	switch e.Kind {
	case anonymous.EventCacheHit:
		i.hits.Add(1)
	case anonymous.EventCacheMiss:
		i.misses.Add(1)
	case anonymous.EventProvisioned:
		i.provisioned.Add(ctx, 1, metric.WithAttributes(KeyStrategy.String(e.Strategy.String())))
	case anonymous.EventProvisionSkipped:
		i.skipped.Add(ctx, 1, metric.WithAttributes(KeyReason.String(e.Reason)))
	case anonymous.EventProvisionRefused:
		i.refused.Add(ctx, 1, metric.WithAttributes(KeyReason.String(e.Reason)))
	case anonymous.EventRefreshed:
		i.refreshes.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String("refreshed")))
	case anonymous.EventDegraded:
		i.refreshes.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String("degraded")))
	case anonymous.EventRefreshFailed:
		i.refreshes.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String("failed")))
	case anonymous.EventRefreshRejected:
		i.refreshes.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String("rejected"), KeyReason.String(e.Reason)))
	case anonymous.EventConversionFailed:
		i.conversion.Add(ctx, 1, metric.WithAttributes(withMethod(e, KeyStep.String("failed"), KeyReason.String(e.Reason))...))
	case anonymous.EventConversionStarted, anonymous.EventCodeSent, anonymous.EventCodeVerified, anonymous.EventConverted,
		anonymous.EventMerged, anonymous.EventResumed, anonymous.EventPromoted, anonymous.EventDescopeMerged:
		i.conversion.Add(ctx, 1, metric.WithAttributes(withMethod(e, KeyStep.String(conversionSteps[e.Kind]))...))
	case anonymous.EventDescopeCall:
		i.descopeCall(ctx, e)
	case anonymous.EventCullProgress:
		dry := e.Cull != nil && e.Cull.DryRun
		i.cullDeleted.Add(ctx, int64(e.Count), metric.WithAttributes(KeyDryRun.Bool(dry)))
	case anonymous.EventCullFinished:
		outcome := "ok"
		if e.Err != nil {
			outcome = "error"
		}
		i.cullRuns.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String(outcome)))
	case anonymous.EventStoreFallback:
		i.storeFallbacks.Add(ctx, 1, metric.WithAttributes(KeyReason.String(e.Reason)))
	case anonymous.EventOverflow:
		i.overflow.Add(ctx, 1, metric.WithAttributes(KeyStrategy.String(e.Strategy.String()), KeyReason.String(e.Reason)))
	}
}

// descopeCall records the duration of a call to Descope and its span, which
// ends now and began Duration ago.
func (i *Instrumentation) descopeCall(ctx context.Context, e anonymous.Event) {
	attrs := []attribute.KeyValue{KeyOperation.String(e.Op)}
	if e.Code != "" {
		attrs = append(attrs, KeyErrorCode.String(e.Code))
	}
	i.descopeDuration.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(attrs...))
	end := time.Now()
	_, span := i.tracer.Start(ctx, "descope."+e.Op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(end.Add(-e.Duration)),
		trace.WithAttributes(attrs...))
	if e.Code != "" {
		// The code only: Descope's message may name a login ID.
		span.SetStatus(codes.Error, e.Code)
	}
	span.End(trace.WithTimestamp(end))
}
