package otelanon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/otelanon"
)

// The middleware on the emulator, instrumented: a visitor is provisioned,
// comes back, converts by email code; the metrics and spans say so, with no
// user ID or address in them.
func TestMiddlewareTelemetry(t *testing.T) {
	tm := newTelemetry(t)
	emu := descopetest.New()
	t.Cleanup(emu.Close)
	m, err := anonymous.New(emu.MustClient(t), anonymous.WithCookieSecure(false), tm.inst.Option())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Each request runs in a span of its own, as an HTTP instrumentation
	// would start it: the Descope calls are its children.
	tracer := tm.tp.Tracer("test")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(anonymous.NewUserJSON(u))
	})
	mux.Handle("/convert/start", m.ConvertStartHandler())
	mux.Handle("/convert/verify", m.ConvertVerifyHandler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "request "+r.URL.Path)
		defer span.End()
		m.Handler(mux).ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)

	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	do := func(method, path, body string) anonymous.UserJSON {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("User-Agent", "Mozilla/5.0")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
		}
		var u anonymous.UserJSON
		_ = json.Unmarshal(data, &u)
		return u
	}

	first := do(http.MethodGet, "/", "")
	do(http.MethodGet, "/", "")
	const addr = "ada@example.com"
	do(http.MethodPost, "/convert/start", `{"email":"`+addr+`"}`)
	code, _ := emu.Outbox(addr)
	converted := do(http.MethodPost, "/convert/verify", `{"email":"`+addr+`","code":"`+code+`"}`)
	if converted.UserID != first.UserID || converted.Anonymous {
		t.Fatalf("converted: %+v", converted)
	}

	// A third-party page's <iframe>: the browser would not keep the
	// cookies, so no identity, and a skip counted. (An <img> is skipped too,
	// as a subresource.)
	embed, _ := http.NewRequest(http.MethodGet, srv.URL+"/convert/start", nil)
	embed.Header.Set("User-Agent", "Mozilla/5.0")
	embed.Header.Set("Sec-Fetch-Site", "cross-site")
	embed.Header.Set("Sec-Fetch-Mode", "navigate")
	embed.Header.Set("Sec-Fetch-Dest", "iframe")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(embed)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(res.Cookies()) != 0 {
		t.Errorf("an embed was given cookies: %v", res.Cookies())
	}

	ms := tm.collect(t)
	for _, c := range []struct {
		metric, attrs string
		want          int64
	}{
		{otelanon.MetricProvisioned, "strategy=user-backed", 1},
		{otelanon.MetricProvisionSkip, "reason=cross_site", 1},
		{otelanon.MetricCacheLookups, "result=hit", 3}, // the second visit, start and verify
		{otelanon.MetricConversion, "method=otp,step=started", 1},
		{otelanon.MetricConversion, "method=otp,step=code_sent", 1},
		{otelanon.MetricConversion, "method=otp,step=code_verified", 1},
		{otelanon.MetricConversion, "method=otp,step=converted", 1},
		{otelanon.MetricDescopeDuration, "operation=user.create", 1},
		{otelanon.MetricDescopeDuration, "operation=jwt.sign_in", 2}, // provisioning, then the regular pair
		{otelanon.MetricDescopeDuration, "operation=otp.update_email", 1},
		{otelanon.MetricDescopeDuration, "operation=otp.verify", 1},
		{otelanon.MetricDescopeDuration, "operation=tenant.search", 1},
	} {
		if got := value(ms, c.metric, c.attrs); got != c.want {
			t.Errorf("%s{%s} = %d, want %d", c.metric, c.attrs, got, c.want)
		}
	}
	if got := value(ms, otelanon.MetricConversion, "method=otp,reason=invalid_code,step=failed"); got != 0 {
		t.Errorf("failed conversions: %d", got)
	}

	spans := tm.spans.GetSpans()
	var names []string
	requests := map[string]string{} // span ID -> name, of the request spans
	for _, s := range spans {
		names = append(names, s.Name)
		if strings.HasPrefix(s.Name, "request ") {
			requests[s.SpanContext.SpanID().String()] = s.Name
		}
	}
	for _, want := range []string{"descope.user.create", "descope.jwt.sign_in", "descope.otp.update_email", "descope.otp.verify",
		"descope.user.remove_tenant", "descope.user.update_login_id", "descope.auth.logout"} {
		if !slices.Contains(names, want) {
			t.Errorf("no span %s in %v", want, names)
		}
	}
	for _, s := range spans {
		if s.Name == "descope.user.create" && requests[s.Parent.SpanID().String()] != "request /" {
			t.Errorf("descope.user.create is a child of %q, want the request span", requests[s.Parent.SpanID().String()])
		}
		if s.Name == "descope.otp.verify" && requests[s.Parent.SpanID().String()] != "request /convert/verify" {
			t.Errorf("descope.otp.verify is a child of %q", requests[s.Parent.SpanID().String()])
		}
	}

	// Nothing that names the person reached the telemetry.
	var all []string
	for _, ps := range ms {
		for _, p := range ps {
			all = append(all, p.attrs)
		}
	}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "request ") {
			continue
		}
		all = append(all, s.Name, s.Status.Description, encode(attribute.NewSet(s.Attributes...)))
	}
	joined := strings.Join(all, " ")
	for _, bit := range []string{first.UserID, addr, url.QueryEscape(addr)} {
		if strings.Contains(joined, bit) {
			t.Errorf("%q reached the telemetry", bit)
		}
	}
}

// BenchmarkHotPathInstrumented is the core's BenchmarkHotPath/anonymous with
// this instrumentation on the OpenTelemetry SDK: a returning visitor costs
// one cache-hit counter increment more.
func BenchmarkHotPathInstrumented(b *testing.B) {
	tm := newTelemetry(b)
	emu := descopetest.New()
	b.Cleanup(emu.Close)
	m, err := anonymous.New(emu.MustClient(b), anonymous.WithCookieSecure(false), tm.inst.Option())
	if err != nil {
		b.Fatal(err)
	}
	anontest.ServeLoop(b, m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), anontest.KnownSession(b, m))
	b.StopTimer()
	if got := value(tm.collect(b), otelanon.MetricCacheLookups, "result=hit"); got < int64(b.N) {
		b.Fatalf("%d cache hits recorded for %d requests", got, b.N)
	}
}

// BenchmarkObserveCacheHit is the instrumentation's share of that.
func BenchmarkObserveCacheHit(b *testing.B) {
	tm := newTelemetry(b)
	ctx := context.Background()
	e := anonymous.Event{Kind: anonymous.EventCacheHit}
	b.ReportAllocs()
	for b.Loop() {
		tm.inst.Observe(ctx, e)
	}
}
