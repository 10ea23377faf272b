// Command quickstart is the README's quick start, as written there (a test
// checks that the two stay the same): the middleware in front of a net/http
// mux, with the ready-made conversion handlers. Run it with
// DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY set.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/descope-contrib/anonymous"
	"github.com/descope/go-sdk/descope/client"
)

func main() {
	// quick start: begin
	c, err := client.NewWithConfig(&client.Config{
		ProjectID:     os.Getenv("DESCOPE_PROJECT_ID"),
		ManagementKey: os.Getenv("DESCOPE_MANAGEMENT_KEY"),
	})
	if err != nil {
		log.Fatal(err)
	}
	anon, err := anonymous.New(c,
		// Called when a visitor's ID changes (native or local visitors, and
		// overflow identities): move the data you keyed by the old ID.
		anonymous.WithOnConvert(func(ctx context.Context, oldID string, u *anonymous.User) error {
			return nil // e.g. UPDATE carts SET user_id = u.ID WHERE user_id = oldID
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := anon.Init(context.Background()); err != nil { // resolve the anonymous tenant now
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := anonymous.FromContext(r.Context())
		if !ok { // a crawler, a HEAD request, a rate-limited client: no identity
			fmt.Fprintln(w, "hello, stranger")
			return
		}
		fmt.Fprintf(w, "hello %s (anonymous: %v)\n", u.ID, u.Anonymous)
	})
	mux.Handle("POST /convert/start", anon.ConvertStartHandler())   // {"email": …} → a one-time code
	mux.Handle("POST /convert/verify", anon.ConvertVerifyHandler()) // {"email": …, "code": …} → same user, regular now
	log.Fatal(http.ListenAndServe(":8080", anon.Handler(mux)))
	// quick start: end
}
