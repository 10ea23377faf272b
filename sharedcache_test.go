package anonymous_test

import (
	"net/http"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestPreventSharedCaching(t *testing.T) {
	cases := []struct {
		in   []string // Cache-Control lines; nil: none
		want string
	}{
		{nil, "private"},
		{[]string{"public, max-age=3600"}, "private, max-age=3600"},
		{[]string{"PUBLIC, Max-Age=3600, S-MaxAge=600"}, "private, Max-Age=3600"},
		{[]string{`no-cache="Set-Cookie"`}, `private, no-cache="Set-Cookie"`},
		{[]string{`no-cache="Set-Cookie, Vary", public`}, `private, no-cache="Set-Cookie, Vary"`},
		{[]string{"private"}, "private"},
		{[]string{"private, max-age=60"}, "private, max-age=60"},
		{[]string{"no-store"}, "no-store"},
		{[]string{"no-store, public"}, "no-store"},
		{[]string{"private", "public, max-age=3600"}, "private, max-age=3600"},
		{[]string{`private="Set-Cookie", max-age=60`}, "private, max-age=60"},
		{[]string{"s-maxage=600"}, "private"},
		{[]string{" , ,max-age=5,, "}, "private, max-age=5"},
		{[]string{`no-cache="a\"b, c", public`}, `private, no-cache="a\"b, c"`},
	}
	for _, tc := range cases {
		h := http.Header{}
		for _, v := range tc.in {
			h.Add("Cache-Control", v)
		}
		h.Set("CDN-Cache-Control", "max-age=600")
		h.Set("Cloudflare-CDN-Cache-Control", "max-age=600")
		h.Set("Surrogate-Control", "max-age=600")
		h.Set("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")
		anonymous.PreventSharedCaching(h)
		if got := h.Values("Cache-Control"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: Cache-Control %q, want %q", tc.in, got, tc.want)
		}
		anontest.CheckNotSharedCacheable(t, "after PreventSharedCaching", h)
		if len(h) != 2 || h.Get("Expires") == "" {
			t.Errorf("%q: header %v: want Cache-Control and Expires only", tc.in, h)
		}
	}
}
