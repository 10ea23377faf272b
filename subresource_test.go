package anonymous_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// headers is a request edit that sets the header pairs kv.
func headers(kv ...string) func(*http.Request) {
	return func(r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
}

// TestSubresourcesAndPrefetchesAreNotProvisioned sends requests without a
// session with each combination of Fetch Metadata and purpose headers a
// browser sends: navigations, fetches and requests without Fetch Metadata
// provision; the resources a page loads, the icons browsers fetch on their
// own, and prefetches and prerenders do not, with their skip reason.
func TestSubresourcesAndPrefetchesAreNotProvisioned(t *testing.T) {
	skips := &anontest.SkipLog{}
	env := anontest.NewEnv(t, nil, nil, anonymous.WithObserver(skips.Observe))
	for _, tc := range []struct {
		name, path string
		kv         []string
		skip       string // "": provisioned
	}{
		{"no fetch metadata", "/", nil, ""},
		{"navigation", "/", []string{"Sec-Fetch-Dest", "document", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Sec-Fetch-User", "?1"}, ""},
		{"iframe", "/embed", []string{"Sec-Fetch-Dest", "iframe", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin"}, ""},
		{"frame", "/frame", []string{"Sec-Fetch-Dest", "frame", "Sec-Fetch-Mode", "navigate"}, ""},
		{"fetch", "/products", []string{"Sec-Fetch-Dest", "empty", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Site", "same-origin"}, ""},
		{"unknown destination", "/x", []string{"Sec-Fetch-Dest", "something-new"}, ""},
		{"image", "/logo.png", []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Site", "same-origin"}, "subresource"},
		{"favicon as chromium fetches it", "/favicon.ico", []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Site", "same-origin"}, "subresource"},
		{"favicon without fetch metadata", "/favicon.ico", nil, "subresource"},
		{"touch icon", "/apple-touch-icon.png", nil, "subresource"},
		{"sized touch icon", "/apple-touch-icon-120x120-precomposed.png", nil, "subresource"},
		{"script", "/app.js", []string{"Sec-Fetch-Dest", "script"}, "subresource"},
		{"style", "/app.css", []string{"Sec-Fetch-Dest", "style"}, "subresource"},
		{"font", "/f.woff2", []string{"Sec-Fetch-Dest", "font"}, "subresource"},
		{"audio", "/a.mp3", []string{"Sec-Fetch-Dest", "audio"}, "subresource"},
		{"video", "/v.mp4", []string{"Sec-Fetch-Dest", "video"}, "subresource"},
		{"track", "/t.vtt", []string{"Sec-Fetch-Dest", "track"}, "subresource"},
		{"manifest", "/site.webmanifest", []string{"Sec-Fetch-Dest", "manifest"}, "subresource"},
		{"object", "/o", []string{"Sec-Fetch-Dest", "object"}, "subresource"},
		{"embed", "/e", []string{"Sec-Fetch-Dest", "embed"}, "subresource"},
		{"worker", "/w.js", []string{"Sec-Fetch-Dest", "worker"}, "subresource"},
		{"service worker", "/sw.js", []string{"Sec-Fetch-Dest", "serviceworker"}, "subresource"},
		{"csp report", "/csp", []string{"Sec-Fetch-Dest", "report"}, "subresource"},
		{"speculation rules prefetch", "/next", []string{"Sec-Fetch-Dest", "document", "Sec-Fetch-Mode", "navigate", "Sec-Purpose", "prefetch"}, "prefetch"},
		{"prerender", "/next", []string{"Sec-Fetch-Dest", "document", "Sec-Fetch-Mode", "navigate", "Sec-Purpose", "prefetch;prerender"}, "prefetch"},
		{"link rel=prefetch", "/next", []string{"Sec-Fetch-Dest", "empty", "Purpose", "prefetch"}, "prefetch"},
		{"firefox prefetch", "/next", []string{"X-Moz", "prefetch"}, "prefetch"},
		{"safari preview", "/next", []string{"X-Purpose", "preview"}, "prefetch"},
		{"other purpose", "/", []string{"Sec-Fetch-Dest", "document", "Sec-Purpose", "unknown"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Emu.Requests("/v1/mgmt/user/create")
			me := env.Do(t, env.Browser(t), http.MethodGet, tc.path, nil, headers(tc.kv...))
			created := env.Emu.Requests("/v1/mgmt/user/create") - before
			got := skips.Take()
			if tc.skip == "" {
				if !me.New || created != 1 || len(got) != 0 {
					t.Errorf("not provisioned: %+v, %d users created, skipped %v", me, created, got)
				}
				return
			}
			if me.New || me.UserID != "" || len(me.SetCookie) != 0 || created != 0 {
				t.Errorf("provisioned: %+v, %d users created", me, created)
			}
			if len(got) != 1 || got[0] != tc.skip {
				t.Errorf("skip reasons %v, want [%s]", got, tc.skip)
			}
		})
	}

	// A visitor who has an identity keeps it on every kind of request.
	b, first := env.Visitor(t)
	for _, kv := range [][]string{{"Sec-Fetch-Dest", "image"}, {"Sec-Purpose", "prefetch"}} {
		if me := env.Do(t, b, http.MethodGet, "/favicon.ico", nil, headers(kv...)); me.UserID != first.UserID || me.New {
			t.Errorf("%v: %+v, want the visitor %s", kv, me, first.UserID)
		}
	}
}

// TestFirstPageLoadMakesOneIdentity sends a page's request and, at once, in
// parallel, before any cookie came back, the requests for its resources as
// Chromium sends them (its favicon, an image, a script, a style sheet): one
// user is created, the page's.
func TestFirstPageLoadMakesOneIdentity(t *testing.T) {
	env := anontest.NewEnv(t, nil, nil)
	b := env.Browser(t)
	requests := []struct{ path, dest string }{
		{"/", "document"},
		{"/favicon.ico", "image"},
		{"/logo.png", "image"},
		{"/app.js", "script"},
		{"/app.css", "style"},
		{"/font.woff2", "font"},
	}
	var wg sync.WaitGroup
	answers := make([]anontest.Me, len(requests))
	for i, rq := range requests {
		wg.Go(func() {
			mode := "no-cors"
			if rq.dest == "document" {
				mode = "navigate"
			}
			answers[i] = env.Do(t, b, http.MethodGet, rq.path, nil, headers("Sec-Fetch-Dest", rq.dest, "Sec-Fetch-Mode", mode, "Sec-Fetch-Site", "same-origin"))
		})
	}
	wg.Wait()
	if n := env.Emu.Requests("/v1/mgmt/user/create"); n != 1 {
		t.Errorf("one page load created %d users, want 1", n)
	}
	if !answers[0].New {
		t.Errorf("the page was not provisioned: %+v", answers[0])
	}
	if me := env.Get(t, b, "/"); me.UserID != answers[0].UserID {
		t.Errorf("after the page load: %+v, want the page's user %s", me, answers[0].UserID)
	}
}
