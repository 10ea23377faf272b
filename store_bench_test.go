package anonymous_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// BenchmarkHotPathWithStore is BenchmarkHotPath with a shared store set: a
// valid session never touches the store.
func BenchmarkHotPathWithStore(b *testing.B) {
	store := newSwitchStore(time.Now)
	_, m, r := benchWorld(b, anonymous.WithStore(store))
	app := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { sink, _ = anonymous.FromContext(r.Context()) })
	before := store.calls.Load()
	anontest.ServeLoop(b, m.Handler(app), r)
	if sink == nil {
		b.Fatal("no user identified")
	}
	if n := store.calls.Load() - before; n != 0 {
		b.Fatalf("the hot path called the store %d times", n)
	}
}
