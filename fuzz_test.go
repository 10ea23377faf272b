package anonymous_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

// Fuzz targets driving the whole middleware through a recorder, one
// emulator and middleware per target (per fuzzing process). Run one with
//
//	go test -run '^$' -fuzz '^FuzzCookies$' -fuzztime 10s .
//
// Without -fuzz, the seeds run as ordinary tests.

// fuzzWorld is a world for fuzzing: a generous timeout (the fuzzer loads the
// machine), a hook that keeps nothing, and the default per-client
// provisioning limit so that cookie-less inputs stop costing Descope calls
// after ten.
type fuzzWorld struct {
	*anontest.Env
	h      http.Handler
	ds     string // the victim's genuine session token
	dsr    string // and refresh token
	victim string
	other  string // a second visitor's ID
	oDS    string
	oDSR   string
}

func newFuzzWorld(f *testing.F, opts ...anonymous.Option) *fuzzWorld {
	f.Helper()
	base := []anonymous.Option{
		anonymous.WithTimeout(5 * time.Second),
		anonymous.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}),
	}
	w := newWorld(f, nil, append(base, opts...)...)
	vb, v := w.Visitor(f)
	ob, o := w.Visitor(f)
	vj, oj := w.Jar(vb), w.Jar(ob)
	return &fuzzWorld{Env: w, h: w.MW.Handler(anontest.App(w.MW, &anontest.ErrLog{})),
		ds: vj["DS"], dsr: vj["DSR"], victim: v.UserID, other: o.UserID, oDS: oj["DS"], oDSR: oj["DSR"]}
}

// known reports whether id is one of the users the world's genuine tokens
// belong to.
func (fw *fuzzWorld) known(id string) bool { return id == fw.victim || id == fw.other }

// checkUser fails unless the response's user is nobody, a user provisioned
// on this request, or the subject of a genuine token.
func (fw *fuzzWorld) checkUser(t *testing.T, res anontest.Me) {
	t.Helper()
	if res.Status >= 500 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if res.UserID != "" && !res.New && !fw.known(res.UserID) {
		t.Fatalf("identified as %q, the subject of no genuine token", res.UserID)
	}
}

// seedTokens is every token of the forgery catalogue plus the genuine ones.
func (fw *fuzzWorld) seedTokens(f *testing.F) []string {
	toks := []string{fw.ds, fw.dsr, fw.oDS, fw.oDSR, "", "a.b.c", ".", ".."}
	for _, fg := range forgeries(f, fw.Emu, fw.ds, fw.dsr) {
		if len(fg.token) < 6000 {
			toks = append(toks, fg.token)
		}
	}
	return toks
}

// FuzzCookies sends arbitrary Cookie header values. Invariants: no panic, no
// 5xx, and a user only if it is new or the subject of a genuine token.
func FuzzCookies(f *testing.F) {
	fw := newFuzzWorld(f, anonymous.WithClientRateLimit(10, time.Minute))
	for _, tok := range fw.seedTokens(f) {
		f.Add("DS=" + tok)
		f.Add("DSR=" + tok)
		f.Add("theme=dark; DS=" + tok + "; _ga=GA1.2.3")
	}
	f.Add("DS=" + fw.ds + "; DSR=" + fw.dsr)
	f.Add("DS=" + fw.oDS + "; DS=" + fw.ds)
	f.Add("DSR=" + fw.oDSR + "; DSR=" + fw.dsr)
	f.Add(`DS="` + fw.ds + `"`)
	f.Add("DS=" + fw.ds[:len(fw.ds)/2] + "; DSR=" + fw.dsr)
	f.Add(";;; DS ; =DS; DS==; DSR")
	f.Fuzz(func(t *testing.T, cookie string) {
		res := anontest.Serve(fw.h, http.MethodGet, "/", "", "192.0.2.1:1234", func(r *http.Request) {
			r.Header["Cookie"] = []string{cookie}
		})
		fw.checkUser(t, res)
	})
}

// FuzzToken sends arbitrary Authorization header values (and no cookie).
// Invariants: those of FuzzCookies, and a bearer request (a non-blank token
// after "Bearer ") never gets cookies or a new user.
func FuzzToken(f *testing.F) {
	fw := newFuzzWorld(f, anonymous.WithClientRateLimit(10, time.Minute))
	for _, tok := range fw.seedTokens(f) {
		f.Add("Bearer " + tok)
	}
	for _, v := range []string{"bearer " + fw.ds, "BEARER  " + fw.ds + " ", "Bearer " + fw.ds + " x",
		"DPoP " + fw.ds, "Basic YTpi", "Bearer", "Bearer ", "Bearer \t", "Bearer " + fw.dsr + ":" + fw.ds} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		res := anontest.Serve(fw.h, http.MethodGet, "/", "", "192.0.2.1:1234", func(r *http.Request) {
			r.Header["Authorization"] = []string{auth}
		})
		fw.checkUser(t, res)
		if isBearer(auth) && (len(res.SetCookie) != 0 || res.New) {
			t.Fatalf("bearer request got cookies %v / a new user %v", res.SetCookie, res.New)
		}
	})
}

// isBearer says whether the middleware takes auth as a bearer token.
func isBearer(auth string) bool {
	return len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") && strings.TrimSpace(auth[7:]) != ""
}

// FuzzConvertBody posts arbitrary bodies to the conversion handlers, as a
// visitor with a genuine anonymous session. Invariants: no panic, no 5xx,
// no cookies unless a conversion succeeded, and the victim (another visitor)
// never changes. When a visitor runs out of code sends (5 per 10 minutes), a
// new one takes over, so valid bodies keep reaching Descope.
func FuzzConvertBody(f *testing.F) {
	fw := newFuzzWorld(f)
	victim := anontest.StateOf(fw.Emu, fw.victim)
	cookie := "DS=" + fw.oDS + "; DSR=" + fw.oDSR
	seeds := []string{
		`{"email":"ada@example.com"}`, `{"phone":"+14155550100"}`,
		`{"email":"ada@example.com","code":"123456"}`, `{"phone":"+1 (415) 555-0100","code":"000000"}`,
		`{"email":"Ada@Example.COM "}`, `{"email":"a@b.co"}`, `{"email":"x@y.z"}`, `{"phone":"+10000000"}`,
		`{"email":"` + fw.victim + `@example.com"}`, `{"userId":"` + fw.victim + `"}`,
		`{"email":5}`, `["a@b.co"]`, `{}`, `null`, ``, `{"email":"a@b.co"} {}`, `{"email":"a@b.co","phone":"+14155550100"}`,
		`{"email":"` + strings.Repeat("a", 300) + `@example.com"}`, `{"code":"` + strings.Repeat("9", 40) + `"}`,
	}
	for _, s := range seeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, verify bool, body string) {
		path := "/convert/start"
		if verify {
			path = "/convert/verify"
		}
		res := anontest.Serve(fw.h, http.MethodPost, path, body, "192.0.2.2:1234", cookieHeader(cookie))
		if res.Status >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, res.Status, res.Body)
		}
		if len(res.SetCookie) != 0 && res.Status != http.StatusOK {
			t.Fatalf("%s %q: cookies written on %d: %v", path, body, res.Status, res.SetCookie)
		}
		if res.Status == http.StatusTooManyRequests && !verify {
			// This visitor spent its code sends: continue as a new one.
			p := anontest.Serve(fw.h, http.MethodGet, "/", "", "192.0.2.3:1234", nil)
			var ds, dsr string
			for _, c := range p.SetCookie {
				switch c.Name {
				case "DS":
					ds = c.Value
				case "DSR":
					dsr = c.Value
				}
			}
			if ds == "" || dsr == "" {
				t.Fatalf("could not provision a new visitor: %+v", p)
			}
			cookie = "DS=" + ds + "; DSR=" + dsr
		}
		if now := anontest.StateOf(fw.Emu, fw.victim); !now.Equal(victim) {
			t.Fatalf("%s %q changed the victim: %+v", path, body, now)
		}
	})
}
