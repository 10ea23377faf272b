package otelanon_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/otelanon"
)

// Installing the instrumentation on a middleware. In production, pass the
// MeterProvider of your exporter (Prometheus, OTLP) and a TracerProvider.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	inst, err := otelanon.New(otelanon.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}

	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c, anonymous.WithCookieSecure(false), inst.Option())
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0")
	anon.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), r)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == otelanon.MetricProvisioned {
			p := m.Data.(metricdata.Sum[int64]).DataPoints[0]
			strategy, _ := p.Attributes.Value(otelanon.KeyStrategy)
			fmt.Println(m.Name, strategy.AsString(), p.Value)
		}
	}
	// Output: anonymous.provisioned user-backed 1
}
