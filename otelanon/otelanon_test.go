package otelanon_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/otelanon"
)

// telemetry is an Instrumentation on the SDK's in-memory reader and exporter.
type telemetry struct {
	inst   *otelanon.Instrumentation
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()); _ = tp.Shutdown(context.Background()) })
	inst, err := otelanon.New(otelanon.WithMeterProvider(mp), otelanon.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry{inst: inst, reader: reader, spans: spans, tp: tp}
}

// point is one data point: its attributes as "k=v,k=v" (sorted), and its
// value (a histogram's count, with its sum).
type point struct {
	attrs string
	value int64
	sum   float64
}

// collect reads every metric by name, and fails on an instrument that is
// not of the expected kind (monotonic int64 sums, a float64 histogram).
func (tm *telemetry) collect(t testing.TB) map[string][]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelanon.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelanon.ScopeName)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s is not a cumulative counter", m.Name)
				}
				for _, dp := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: encode(dp.Attributes), value: dp.Value})
				}
			case metricdata.Histogram[float64]:
				if m.Unit != "s" {
					t.Errorf("%s unit %q, want s", m.Name, m.Unit)
				}
				for _, dp := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: encode(dp.Attributes), value: int64(dp.Count), sum: dp.Sum})
				}
			default:
				t.Errorf("%s is a %T", m.Name, m.Data)
			}
		}
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].attrs < ps[j].attrs })
	}
	return out
}

// value returns the value of the point of metric name with attrs, or 0.
func value(ms map[string][]point, name, attrs string) int64 {
	for _, p := range ms[name] {
		if p.attrs == attrs {
			return p.value
		}
	}
	return 0
}

func encode(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// A person as an event may carry one: none of it may reach an attribute.
var (
	person     = &anonymous.User{ID: "U2personID", LoginIDs: []string{"ada@example.com"}, Anonymous: true}
	errPerson  = errors.New("descope: user ada@example.com (U2personID) is not allowed")
	secretBits = []string{"U2personID", "ada@example.com"}
)

// TestEveryEventKind feeds one event of each kind (and each variant of its
// attributes) and checks the one data point it makes: name, attributes,
// value.
func TestEveryEventKind(t *testing.T) {
	type want struct {
		metric, attrs string
		value         int64
	}
	cases := []struct {
		e    anonymous.Event
		want want
	}{
		{anonymous.Event{Kind: anonymous.EventProvisioned, Strategy: anonymous.UserBacked, User: person},
			want{otelanon.MetricProvisioned, "strategy=user-backed", 1}},
		{anonymous.Event{Kind: anonymous.EventProvisioned, Strategy: anonymous.NativeTokens, User: person},
			want{otelanon.MetricProvisioned, "strategy=native", 1}},
		{anonymous.Event{Kind: anonymous.EventOverflow, Strategy: anonymous.LocalIDs, Reason: "global_limit", User: person},
			want{otelanon.MetricOverflow, "reason=global_limit,strategy=local", 1}},
		{anonymous.Event{Kind: anonymous.EventProvisionSkipped, Reason: "crawler"},
			want{otelanon.MetricProvisionSkip, "reason=crawler", 1}},
		{anonymous.Event{Kind: anonymous.EventProvisionRefused, Reason: "global_limit", Err: anonymous.ErrRateLimited},
			want{otelanon.MetricProvisionRefuse, "reason=global_limit", 1}},
		{anonymous.Event{Kind: anonymous.EventRefreshed, User: person},
			want{otelanon.MetricRefreshes, "outcome=refreshed", 1}},
		{anonymous.Event{Kind: anonymous.EventDegraded, Err: errPerson},
			want{otelanon.MetricRefreshes, "outcome=degraded", 1}},
		{anonymous.Event{Kind: anonymous.EventRefreshRejected, Reason: "descope", Err: errPerson},
			want{otelanon.MetricRefreshes, "outcome=rejected,reason=descope", 1}},
		{anonymous.Event{Kind: anonymous.EventRefreshFailed, Err: errPerson},
			want{otelanon.MetricRefreshes, "outcome=failed", 1}},
		{anonymous.Event{Kind: anonymous.EventConversionStarted},
			want{otelanon.MetricConversion, "step=started", 1}},
		{anonymous.Event{Kind: anonymous.EventCodeSent},
			want{otelanon.MetricConversion, "step=code_sent", 1}},
		{anonymous.Event{Kind: anonymous.EventCodeSent, Method: "link"},
			want{otelanon.MetricConversion, "method=link,step=code_sent", 1}},
		{anonymous.Event{Kind: anonymous.EventConverted, Method: "adopt", User: person},
			want{otelanon.MetricConversion, "method=adopt,step=converted", 1}},
		{anonymous.Event{Kind: anonymous.EventConversionFailed, Method: "otp", Reason: "invalid_code", Err: errPerson},
			want{otelanon.MetricConversion, "method=otp,reason=invalid_code,step=failed", 1}},
		{anonymous.Event{Kind: anonymous.EventCodeVerified},
			want{otelanon.MetricConversion, "step=code_verified", 1}},
		{anonymous.Event{Kind: anonymous.EventConverted, User: person},
			want{otelanon.MetricConversion, "step=converted", 1}},
		{anonymous.Event{Kind: anonymous.EventMerged, User: person},
			want{otelanon.MetricConversion, "step=merged", 1}},
		{anonymous.Event{Kind: anonymous.EventResumed},
			want{otelanon.MetricConversion, "step=resumed", 1}},
		{anonymous.Event{Kind: anonymous.EventPromoted, User: person},
			want{otelanon.MetricConversion, "step=promoted", 1}},
		{anonymous.Event{Kind: anonymous.EventDescopeMerged, Err: errPerson},
			want{otelanon.MetricConversion, "step=descope_merged", 1}},
		{anonymous.Event{Kind: anonymous.EventConversionFailed, Reason: "invalid_code", Err: errPerson},
			want{otelanon.MetricConversion, "reason=invalid_code,step=failed", 1}},
		{anonymous.Event{Kind: anonymous.EventCacheHit},
			want{otelanon.MetricCacheLookups, "result=hit", 1}},
		{anonymous.Event{Kind: anonymous.EventCacheMiss},
			want{otelanon.MetricCacheLookups, "result=miss", 1}},
		{anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "user.create", Duration: 30 * time.Millisecond},
			want{otelanon.MetricDescopeDuration, "operation=user.create", 1}},
		{anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "otp.verify", Duration: 2 * time.Second, Code: "E061102", Err: errPerson},
			want{otelanon.MetricDescopeDuration, "error_code=E061102,operation=otp.verify", 1}},
		{anonymous.Event{Kind: anonymous.EventCullProgress, Count: 7, Cull: &anonymous.CullReport{Deleted: 7}},
			want{otelanon.MetricCullDeleted, "dry_run=false", 7}},
		{anonymous.Event{Kind: anonymous.EventCullProgress, Count: 3, Cull: &anonymous.CullReport{Deleted: 3, DryRun: true}},
			want{otelanon.MetricCullDeleted, "dry_run=true", 3}},
		{anonymous.Event{Kind: anonymous.EventCullFinished, Cull: &anonymous.CullReport{}},
			want{otelanon.MetricCullRuns, "outcome=ok", 1}},
		{anonymous.Event{Kind: anonymous.EventCullFinished, Cull: &anonymous.CullReport{}, Err: errPerson},
			want{otelanon.MetricCullRuns, "outcome=error", 1}},
		{anonymous.Event{Kind: anonymous.EventStoreFallback, Reason: "fallback", Err: errPerson},
			want{otelanon.MetricStoreFallbacks, "reason=fallback", 1}},
		{anonymous.Event{Kind: anonymous.EventStoreFallback, Reason: "restored"},
			want{otelanon.MetricStoreFallbacks, "reason=restored", 1}},
	}
	covered := map[anonymous.EventKind]bool{}
	for _, tc := range cases {
		covered[tc.e.Kind] = true
		t.Run(tc.e.Kind.String()+"/"+tc.want.attrs, func(t *testing.T) {
			tm := newTelemetry(t)
			tm.inst.Observe(context.Background(), tc.e)
			got := tm.collect(t)
			want := map[string][]point{tc.want.metric: {{attrs: tc.want.attrs, value: tc.want.value}}}
			if tc.e.Kind == anonymous.EventDescopeCall {
				want[tc.want.metric][0].sum = tc.e.Duration.Seconds()
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v, want %v", got, want)
			}
			checkNoPerson(t, got, tm.spans.GetSpans())
		})
	}
	for _, k := range anonymous.EventKinds() {
		if !covered[k] {
			t.Errorf("event kind %s has no case", k)
		}
	}
}

// An event of a kind this version does not know is ignored.
func TestUnknownKindIgnored(t *testing.T) {
	tm := newTelemetry(t)
	tm.inst.Observe(context.Background(), anonymous.Event{Kind: anonymous.EventKind(1000)})
	if got := tm.collect(t); len(got) != 0 {
		t.Errorf("unknown kind recorded: %v", got)
	}
}

// checkNoPerson fails if a user ID or address reached a metric or span.
func checkNoPerson(t *testing.T, ms map[string][]point, spans tracetest.SpanStubs) {
	t.Helper()
	var all []string
	for _, ps := range ms {
		for _, p := range ps {
			all = append(all, p.attrs)
		}
	}
	for _, s := range spans {
		all = append(all, s.Name, s.Status.Description, encode(attribute.NewSet(s.Attributes...)))
		for _, ev := range s.Events {
			all = append(all, ev.Name, encode(attribute.NewSet(ev.Attributes...)))
		}
	}
	joined := strings.Join(all, " ")
	for _, bit := range secretBits {
		if strings.Contains(joined, bit) {
			t.Errorf("%q reached the telemetry: %s", bit, joined)
		}
	}
}

func TestDescopeCallSpan(t *testing.T) {
	tm := newTelemetry(t)
	ctx, parent := tm.tp.Tracer("test").Start(context.Background(), "request")
	tm.inst.Observe(ctx, anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "user.create", Duration: 40 * time.Millisecond})
	tm.inst.Observe(ctx, anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "otp.verify", Duration: time.Millisecond,
		Code: "E061102", Err: errPerson})
	parent.End()
	spans := tm.spans.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for i, want := range []struct {
		name, attrs string
		took        time.Duration
		status      codes.Code
		desc        string
	}{
		{"descope.user.create", "operation=user.create", 40 * time.Millisecond, codes.Unset, ""},
		{"descope.otp.verify", "error_code=E061102,operation=otp.verify", time.Millisecond, codes.Error, "E061102"},
	} {
		s := spans[i]
		if s.Name != want.name || encode(attribute.NewSet(s.Attributes...)) != want.attrs || s.SpanKind != trace.SpanKindClient {
			t.Errorf("span %d: %s %v %v", i, s.Name, s.Attributes, s.SpanKind)
		}
		if took := s.EndTime.Sub(s.StartTime); took != want.took {
			t.Errorf("%s lasted %v, want %v", s.Name, took, want.took)
		}
		if s.Status.Code != want.status || s.Status.Description != want.desc {
			t.Errorf("%s status %v", s.Name, s.Status)
		}
		if s.Parent.SpanID() != parent.SpanContext().SpanID() || s.SpanContext.TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s is not a child of the request span", s.Name)
		}
		if s.InstrumentationScope.Name != otelanon.ScopeName {
			t.Errorf("%s scope %q", s.Name, s.InstrumentationScope.Name)
		}
	}
	checkNoPerson(t, nil, spans)
}

// The histogram's buckets are in seconds, up to past the default timeout.
func TestDurationBuckets(t *testing.T) {
	tm := newTelemetry(t)
	tm.inst.Observe(context.Background(), anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "user.load", Duration: 70 * time.Millisecond})
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	h := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64])
	dp := h.DataPoints[0]
	if !slices.Contains(dp.Bounds, 0.05) || !slices.Contains(dp.Bounds, 0.1) || dp.Bounds[len(dp.Bounds)-1] < 5 {
		t.Errorf("bounds %v", dp.Bounds)
	}
	i := slices.Index(dp.Bounds, 0.1) // the bucket (0.05, 0.1]
	if dp.BucketCounts[i] != 1 || math.Abs(dp.Sum-0.07) > 1e-9 {
		t.Errorf("70 ms in buckets %v (bounds %v), sum %v", dp.BucketCounts, dp.Bounds, dp.Sum)
	}
}

// Without providers, New uses the global ones.
func TestDefaultsToGlobalProviders(t *testing.T) {
	prevMP, prevTP := otel.GetMeterProvider(), otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetMeterProvider(prevMP); otel.SetTracerProvider(prevTP) })
	reader := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	spans := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))

	inst, err := otelanon.New()
	if err != nil {
		t.Fatal(err)
	}
	inst.Observe(context.Background(), anonymous.Event{Kind: anonymous.EventDescopeCall, Op: "user.load", Duration: time.Millisecond})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || rm.ScopeMetrics[0].Metrics[0].Name != otelanon.MetricDescopeDuration {
		t.Errorf("global meter provider got %+v", rm.ScopeMetrics)
	}
	if got := spans.GetSpans(); len(got) != 1 || got[0].Name != "descope.user.load" {
		t.Errorf("global tracer provider got %v", got)
	}
}
