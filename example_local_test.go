package anonymous_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// Visitors on local IDs: no call to Descope until a visitor converts (or is
// promoted), when the OnConvert hook moves its data to the Descope user ID.
// In production the key comes from your secrets, the same on every replica.
func ExampleWithLocalKeys() {
	emu := descopetest.New()
	defer emu.Close()
	c, err := emu.Client()
	if err != nil {
		log.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	anon, err := anonymous.New(c, anonymous.WithCookieSecure(false),
		anonymous.WithStrategy(anonymous.LocalIDs),
		anonymous.WithLocalKeys(key),
		anonymous.WithOnConvert(func(_ context.Context, localID string, u *anonymous.User) error {
			// Move the visitor's data from localID to u.ID.
			return nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		fmt.Fprintf(w, "local=%v new=%v", anonymous.IsLocalID(u.ID), u.New)
	})
	emu.ResetRequests()

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	rec := httptest.NewRecorder()
	anon.Handler(app).ServeHTTP(rec, req)
	fmt.Println(rec.Body)
	for _, c := range rec.Result().Cookies() {
		fmt.Println("cookie set:", c.Name)
	}
	fmt.Println("calls to Descope:", emu.TotalRequests())
	// Output:
	// local=true new=true
	// cookie set: DSL
	// calls to Descope: 0
}
