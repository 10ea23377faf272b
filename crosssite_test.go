package anonymous_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// fetchMeta is a request edit that sends the fetch metadata a browser sends:
// Sec-Fetch-Site, -Mode and -Dest (each only when not empty), and the method.
func fetchMeta(method, site, mode, dest string) func(*http.Request) {
	return func(r *http.Request) {
		r.Method = method
		for k, v := range map[string]string{"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
	}
}

// The requests a browser makes, by their fetch metadata.
var (
	embedImage     = fetchMeta(http.MethodGet, "cross-site", "no-cors", "image")
	embedFrame     = fetchMeta(http.MethodGet, "cross-site", "navigate", "iframe")
	crossFetch     = fetchMeta(http.MethodGet, "cross-site", "cors", "empty")
	crossFormPost  = fetchMeta(http.MethodPost, "cross-site", "navigate", "document")
	linkFromSite   = fetchMeta(http.MethodGet, "cross-site", "navigate", "document")
	sameOrigin     = fetchMeta(http.MethodGet, "same-origin", "cors", "empty")
	siblingFetch   = fetchMeta(http.MethodGet, "same-site", "cors", "empty")
	typedURL       = fetchMeta(http.MethodGet, "none", "navigate", "document")
	noMetadata     = fetchMeta(http.MethodGet, "", "", "")
	framedSubFetch = func(r *http.Request) {
		// A fetch of the application's own page, framed by another site:
		// same-origin, but in a cross-site context.
		sameOrigin(r)
		r.Header.Set("Sec-Fetch-Storage-Access", "none")
	}
)

// skipCounter counts the EventProvisionSkipped events of each reason.
type skipCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *skipCounter) observe(_ context.Context, e anonymous.Event) {
	if e.Kind != anonymous.EventProvisionSkipped {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[e.Reason]++
}

func (c *skipCounter) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[reason]
}

// TestCrossSiteRequestsWithoutKeptCookiesAreNotProvisioned sends the
// requests of a browser without the application's cookies, in every
// strategy. Those whose Lax cookies the browser would not keep (embeds on
// another site's page, cross-site fetches and form posts, a framed page's
// fetches) get no identity: no cookie, no call to Descope, no key in the
// store, one event each. A link from another site, the application's own
// pages, and a request without fetch metadata (an old browser, a script)
// are provisioned as before.
func TestCrossSiteRequestsWithoutKeptCookiesAreNotProvisioned(t *testing.T) {
	// The skipped requests first (see the store check below).
	cases := []struct {
		name      string
		edit      func(*http.Request)
		provision bool
	}{
		{"image on another site", embedImage, false},
		{"iframe on another site", embedFrame, false},
		{"fetch from another site", crossFetch, false},
		{"form post from another site", crossFormPost, false},
		{"fetch in a page framed by another site", framedSubFetch, false},
		{"link from another site", linkFromSite, true},
		{"fetch of the same origin", sameOrigin, true},
		{"fetch from a sibling subdomain", siblingFetch, true},
		{"typed URL", typedURL, true},
		{"no fetch metadata", noMetadata, true},
	}
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			store := anonymous.NewMemStore(time.Now)
			skips := &skipCounter{}
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil,
				anonymous.WithStore(store), anonymous.WithObserver(skips.observe),
				anonymous.WithClientRateLimit(1000, time.Minute), anonymous.WithGlobalRateLimit(1000, time.Minute))
			skipped := 0
			for _, tc := range cases {
				calls, keys, users := env.Calls(), anonymous.StoreKeys(store, ""), env.Emu.UserCount()
				me := env.Do(t, env.Browser(t), http.MethodGet, "/", nil, tc.edit)
				if me.Status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", tc.name, me.Status, me.Body)
				}
				if tc.provision {
					if !me.New || me.UserID == "" || len(me.SetCookie) == 0 {
						t.Errorf("%s: not provisioned: %+v", tc.name, me)
					}
					continue
				}
				skipped++
				if me.New || me.UserID != "" || len(me.SetCookie) != 0 {
					t.Errorf("%s: provisioned: %+v", tc.name, me)
				}
				if env.Calls() != calls || env.Emu.UserCount() != users || anonymous.StoreKeys(store, "") != keys {
					t.Errorf("%s: cost %d Descope calls, %d users, %d store keys", tc.name,
						env.Calls()-calls, env.Emu.UserCount()-users, anonymous.StoreKeys(store, "")-keys)
				}
				if n := skips.get("cross_site"); n != skipped {
					t.Errorf("%s: %d cross_site events after %d skipped requests", tc.name, n, skipped)
				}
			}
			// The skipped requests come first: had they touched the store,
			// the provisioned ones could not show it.
			if anonymous.StoreKeys(store, "") == 0 {
				t.Error("provisioning left no key in the store")
			}
		})
	}
}

// TestCrossSiteEmbedsDoNotSpendTheLimit is the drain: a third-party page
// embeds the application 20 times, each view from another address, against
// a global limit of 5 new visitors a minute. No embed gets an identity, so
// the limit is left whole for the next real visitor.
func TestCrossSiteEmbedsDoNotSpendTheLimit(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil, anonymous.WithGlobalRateLimit(5, time.Minute))
			h := env.Server.Config.Handler
			for i := range 20 {
				embed := embedImage
				if i%2 == 1 {
					embed = embedFrame
				}
				if me := anontest.Serve(h, http.MethodGet, "/", "", fmt.Sprintf("192.0.2.%d:1234", i+1), embed); len(me.SetCookie) != 0 || me.UserID != "" {
					t.Fatalf("embed %d provisioned: %+v", i, me)
				}
			}
			if n := env.Emu.UserCount(); n != 0 {
				t.Fatalf("embeds created %d users", n)
			}
			for i := range 5 {
				if me := anontest.Serve(h, http.MethodGet, "/", "", fmt.Sprintf("198.51.100.%d:1234", i+1), linkFromSite); !me.New || me.UserID == "" {
					t.Fatalf("real visitor %d after the embeds got no identity: %+v (hook saw %v)", i, me, env.Hooks.All())
				}
			}
		})
	}
}

// TestCrossSiteRequestsByCookieMode covers the other SameSite modes: a
// Strict cookie is never sent cross-site, so even a link from another site
// is not provisioned (a visitor with an identity would get a second one);
// a None cookie is sent and kept cross-site, so an embedded frame or a
// cross-site fetch is provisioned as before.
func TestCrossSiteRequestsByCookieMode(t *testing.T) {
	strict := anontest.NewEnv(t, netHTTP, nil, anonymous.WithCookieSameSite(http.SameSiteStrictMode))
	for name, tc := range map[string]struct {
		edit      func(*http.Request)
		provision bool
	}{
		"link from another site": {linkFromSite, false},
		"image on another site":  {embedImage, false},
		"sibling subdomain":      {siblingFetch, true},
		"same origin":            {sameOrigin, true},
	} {
		me := strict.Do(t, strict.Browser(t), http.MethodGet, "/", nil, tc.edit)
		if me.New != tc.provision || (len(me.SetCookie) != 0) != tc.provision {
			t.Errorf("Strict, %s: %+v, want provisioned %v", name, me, tc.provision)
		}
	}

	none := anontest.NewEnv(t, netHTTP, nil, anonymous.WithCookieSecure(true), anonymous.WithCookieSameSite(http.SameSiteNoneMode))
	h := none.Server.Config.Handler
	// (An image is a page's resource, never provisioned whatever the cookie
	// mode: TestSubresourcesAndPrefetchesAreNotProvisioned.)
	for name, edit := range map[string]func(*http.Request){"iframe": embedFrame, "fetch": crossFetch} {
		me := anontest.Serve(h, http.MethodGet, "/", "", "192.0.2.1:1234", edit)
		if !me.New || anontest.FindCookie(me.SetCookie, "DS") == nil {
			t.Errorf("None, %s on another site: not provisioned: %+v", name, me)
		}
	}
}

// TestCrossSiteKeepsKnownVisitorsAndEnsure checks that the check is only
// about new identities: a visitor whose cookies do come along on a
// cross-site request is identified as always, and Ensure (lazy mode) refuses
// an embed with ErrNoSession rather than provisioning it.
func TestCrossSiteKeepsKnownVisitorsAndEnsure(t *testing.T) {
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil)
			b, first := env.Visitor(t)
			if me := env.Do(t, b, http.MethodGet, "/", nil, embedImage); me.UserID != first.UserID || me.New {
				t.Errorf("visitor with its cookies on a cross-site request: %+v, want %s", me, first.UserID)
			}

			lazy := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil, anonymous.WithLazy())
			embed := lazy.Do(t, lazy.Browser(t), http.MethodGet, "/ensure", nil, embedFrame)
			if embed.Status != http.StatusServiceUnavailable || len(embed.SetCookie) != 0 || lazy.Calls() != 0 {
				t.Errorf("Ensure on an embed: %+v, %d calls", embed, lazy.Calls())
			}
			r := httptestRequest(embedFrame)
			if _, err := lazy.MW.Ensure(discard{}, r); !errors.Is(err, anonymous.ErrNoSession) {
				t.Errorf("Ensure on an embed: error %v, want ErrNoSession", err)
			}
			if me := lazy.Do(t, lazy.Browser(t), http.MethodGet, "/ensure", nil, linkFromSite); me.Status != http.StatusOK || !me.New {
				t.Errorf("Ensure on a link from another site: %+v", me)
			}
		})
	}
}

// httptestRequest is a GET of / from a browser, changed by edit.
func httptestRequest(edit func(*http.Request)) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	r.RemoteAddr = "192.0.2.9:1234"
	r.Header.Set("User-Agent", anontest.BrowserUA)
	edit(r)
	return r
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
