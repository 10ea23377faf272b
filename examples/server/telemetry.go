package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/otelanon"
)

// telemetry is the server's metrics: the middleware's events, through
// otelanon, into an OpenTelemetry MeterProvider whose Prometheus exporter is
// registered on a registry of the server's own (never the global one).
type telemetry struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	inst     *otelanon.Instrumentation
}

func newTelemetry() (*telemetry, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	inst, err := otelanon.New(otelanon.WithMeterProvider(mp))
	if err != nil {
		return nil, errors.Join(err, mp.Shutdown(context.Background()))
	}
	return &telemetry{registry: reg, provider: mp, inst: inst}, nil
}

// Close flushes and stops the MeterProvider.
func (t *telemetry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.provider.Shutdown(ctx)
}

// metrics serves /metrics in the Prometheus text format.
func (t *telemetry) metrics() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// funnel is the conversion funnel since the server started.
type funnel struct {
	Provisioned int64 `json:"provisioned"` // visitors given an anonymous user
	CodesSent   int64 `json:"codesSent"`   // one-time codes sent to convert
	Converted   int64 `json:"converted"`   // visitors who kept their account (converted or merged)
}

// The Prometheus names of otelanon's counters this server reads.
const (
	promProvisioned = "anonymous_provisioned_total"
	promConversion  = "anonymous_conversion_total"
)

// funnel reads the funnel from the registry: the numbers /metrics shows.
func (t *telemetry) funnel() (funnel, error) {
	families, err := t.registry.Gather()
	if err != nil {
		return funnel{}, err
	}
	var f funnel
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			v := int64(m.GetCounter().GetValue())
			switch fam.GetName() {
			case promProvisioned:
				f.Provisioned += v
			case promConversion:
				for _, l := range m.GetLabel() {
					if l.GetName() != "step" {
						continue
					}
					switch l.GetValue() {
					case "code_sent":
						f.CodesSent += v
					case "converted", "merged":
						f.Converted += v
					}
				}
			}
		}
	}
	return f, nil
}

// serveFunnel answers GET /api/funnel with the funnel as JSON.
func (t *telemetry) serveFunnel(w http.ResponseWriter, _ *http.Request) {
	f, err := t.funnel()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "metrics unavailable")
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// healthz answers GET /healthz for a readiness probe: 200 when the
// middleware is ready, 503 with the reason when not, and what it knows of
// Descope either way. It asks Descope nothing.
func healthz(anon *anonymous.Middleware) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := struct {
			Ready bool   `json:"ready"`
			Error string `json:"error,omitempty"`
			anonymous.HealthReport
		}{Ready: true, HealthReport: anon.Health()}
		status := http.StatusOK
		if err := anon.Healthy(r.Context()); err != nil {
			body.Ready, body.Error, status = false, err.Error(), http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	}
}
