package anonymous_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Counting events with an observer: it runs on the request's goroutine, so it
// only adds to counters. The otelanon module does this for OpenTelemetry.
func ExampleWithObserver() {
	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	var provisioned, crawlers, descopeCalls atomic.Int64
	anon, err := anonymous.New(c, anonymous.WithCookieSecure(false),
		anonymous.WithObserver(func(_ context.Context, e anonymous.Event) {
			switch {
			case e.Kind == anonymous.EventProvisioned:
				provisioned.Add(1)
			case e.Kind == anonymous.EventProvisionSkipped && e.Reason == "crawler":
				crawlers.Add(1)
			case e.Kind == anonymous.EventDescopeCall:
				descopeCalls.Add(1) // e.Op, e.Duration, e.Code
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	if err := anon.Init(context.Background()); err != nil {
		log.Fatal(err)
	}
	h := anon.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, ua := range []string{"Mozilla/5.0", "Googlebot/2.1"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", ua)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	fmt.Println("provisioned:", provisioned.Load(), "crawlers:", crawlers.Load(), "descope calls:", descopeCalls.Load() > 0)
	fmt.Println("healthy:", anon.Healthy(context.Background()) == nil)
	// Output:
	// provisioned: 1 crawlers: 1 descope calls: true
	// healthy: true
}
