package anonymous_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// respellings returns the other spellings of a compact JWS that decode to
// the same bytes: for each segment, every other last character that differs
// from the canonical one only in the bits beyond the encoded bytes, the
// segment padded with '=', and the segment in the standard alphabet.
func respellings(tok string) []string {
	segs := strings.Split(tok, ".")
	var out []string
	for i, seg := range segs {
		with := func(s string) string {
			o := append([]string(nil), segs...)
			o[i] = s
			return strings.Join(o, ".")
		}
		spare := map[int]uint{2: 4, 3: 2}[len(seg)%4]
		v := strings.IndexByte(b64url, seg[len(seg)-1])
		for x := range 64 {
			if x != v && x>>spare == v>>spare {
				out = append(out, with(seg[:len(seg)-1]+b64url[x:x+1]))
			}
		}
		if pad := (4 - len(seg)%4) % 4; pad != 0 {
			out = append(out, with(seg+strings.Repeat("=", pad)))
		}
		if std := strings.NewReplacer("-", "+", "_", "/").Replace(seg); std != seg {
			out = append(out, with(std))
		}
	}
	return out
}

// 12. Other spellings of a genuine token (non-canonical trailing bits,
// padding, the standard alphabet) are refused before any check: as a
// bearer token, a session cookie, a refresh cookie and at logout, with no
// call to Descope and nothing cached; the canonical spelling still works.
func TestSecurityNonCanonicalTokensRefused(t *testing.T) {
	w := newWorld(t, nil, anonymous.WithLazy())
	b := w.Browser(t)
	me := w.Get(t, b, "/ensure")
	if me.Status != http.StatusOK || me.UserID == "" {
		t.Fatalf("ensure: %+v", me)
	}
	ds, dsr := w.Jar(b)["DS"], w.Jar(b)["DSR"]
	// The key is known and the canonical session cached: a respelling
	// that passed would cost no key fetch, only a verification and an
	// entry of its own.
	if p := w.Get(t, b, "/whoami"); p.UserID != me.UserID {
		t.Fatalf("the genuine session: %+v", p)
	}
	cached := anonymous.CacheLen(w.MW)
	w.Emu.ResetRequests()

	dsVariants, dsrVariants := respellings(ds), respellings(dsr)
	sigOnly := 0
	for _, v := range dsVariants {
		if v[:strings.LastIndexByte(v, '.')] == ds[:strings.LastIndexByte(ds, '.')] {
			sigOnly++
		}
	}
	if sigOnly < 15 || len(dsrVariants) < 15 {
		t.Fatalf("%d respellings of the session token (%d of its signature), %d of the refresh token", len(dsVariants), sigOnly, len(dsrVariants))
	}
	stranger := w.Browser(t)
	for _, v := range dsVariants {
		for name, edit := range map[string]func(*http.Request){
			"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) },
			"DS":     func(r *http.Request) { r.Header.Set("Cookie", "DS="+v) },
		} {
			if p := w.Do(t, stranger, http.MethodGet, "/whoami", nil, edit); p.UserID != "" {
				t.Errorf("a respelled session token as %s named %q", name, p.UserID)
			}
		}
	}
	for _, v := range dsrVariants {
		edit := func(r *http.Request) { r.Header.Set("Cookie", "DSR="+v) }
		if p := w.Do(t, stranger, http.MethodGet, "/whoami", nil, edit); p.UserID != "" {
			t.Errorf("a respelled refresh token named %q (refreshed %v, degraded %v)", p.UserID, p.Refreshed, p.Degraded)
		}
		w.Do(t, stranger, http.MethodPost, "/x/logout", nil, edit)
	}
	if n := w.Emu.TotalRequests(); n != 0 {
		t.Errorf("%d respellings made %d calls to Descope: %v", len(dsVariants)+len(dsrVariants), n, w.Emu.RequestLog())
	}
	if n := anonymous.CacheLen(w.MW); n != cached {
		t.Errorf("respellings left %d cache entries, was %d", n, cached)
	}

	// The canonical spellings: the session as a bearer token, and the
	// refresh token, which still refreshes and logs out.
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ds) }
	if p := w.Do(t, stranger, http.MethodGet, "/whoami", nil, bearer); p.UserID != me.UserID {
		t.Errorf("the canonical session token as bearer: %+v", p)
	}
	w.DropCookie(b, "DS")
	if p := w.Get(t, b, "/whoami"); p.UserID != me.UserID || !p.Refreshed {
		t.Errorf("the canonical refresh token: %+v", p)
	}
	if p := w.Do(t, b, http.MethodPost, "/x/logout", nil, nil); p.Status != http.StatusOK || w.Emu.Requests("/v1/auth/logout") != 1 {
		t.Errorf("logout with the canonical refresh token: %+v, %d calls", p, w.Emu.Requests("/v1/auth/logout"))
	}
}
