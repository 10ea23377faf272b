package anonymous_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous/internal/anontest"
)

// fromPage is a request edit that sends a request as a browser does from a
// page of origin, with fetch metadata site ("" for an old browser, which
// sends Origin only) and the body declared as contentType.
func fromPage(origin, site, contentType string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Origin", origin)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
			r.Header.Set("Sec-Fetch-Mode", "cors")
			r.Header.Set("Sec-Fetch-Dest", "empty")
		}
		r.Header.Set("Content-Type", contentType)
	}
}

// serverOrigin is the origin of env's server, as a browser names it.
func serverOrigin(env *anontest.Env) string {
	u, _ := url.Parse(env.Server.URL)
	return u.Scheme + "://" + u.Host
}

// errorAnswer decodes the {"error": …} of a refused request, failing the
// test unless it is JSON.
func errorAnswer(t *testing.T, me anontest.Me) string {
	t.Helper()
	if ct := me.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answered as %q: %s", ct, me.Body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(me.Body), &e); err != nil || e.Error == "" {
		t.Errorf("error answer %q is not {\"error\": …}: %v", me.Body, err)
	}
	return e.Error
}

// TestSecurityConvertRefusesCrossOriginPages is the same-site CSRF attack on
// conversion: a page on a sibling subdomain (same site, so the Lax cookies
// go along) posts the attacker's address as text/plain to start, then the
// attacker's code to verify, which would give the visitor's user ID, with
// its data, to the attacker's address. Every such request is refused with
// 403 before Descope is asked anything, in every strategy, and the visitor
// stays anonymous; its own page still converts.
func TestSecurityConvertRefusesCrossOriginPages(t *testing.T) {
	const attacker = "mallory@example.com"
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil)
			b, first := env.Visitor(t)
			env.Emu.ResetRequests()
			attacks := map[string]func(*http.Request){
				"sibling subdomain, text/plain": fromPage("http://evil.127.0.0.1.nip.io", "same-site", "text/plain"),
				"sibling subdomain, JSON":       fromPage("http://evil.127.0.0.1.nip.io", "same-site", "application/json"),
				"another site, form":            fromPage("https://evil.example", "cross-site", "application/x-www-form-urlencoded"),
				"old browser, another origin":   fromPage("http://127.0.0.1:1", "", "text/plain"),
			}
			for name, edit := range attacks {
				start := env.Do(t, b, http.MethodPost, "/convert/start", map[string]string{"email": attacker}, edit)
				if start.Status != http.StatusForbidden {
					t.Errorf("%s: start answered %d, want 403: %s", name, start.Status, start.Body)
					continue
				}
				if msg := errorAnswer(t, start); !strings.Contains(msg, "cross-origin") {
					t.Errorf("%s: start error %q", name, msg)
				}
			}
			if _, sent := env.Emu.Outbox(attacker); sent || env.Calls() != 0 {
				t.Fatalf("cross-origin starts reached Descope: code sent %v, log %v", sent, env.Emu.RequestLog())
			}

			// The verify step alone: a code the visitor's own page asked for
			// (here by the plain function), posted from the sibling's page.
			code := env.SendCode(t, b, attacker)
			for name, edit := range attacks {
				ver := env.Do(t, b, http.MethodPost, "/convert/verify", map[string]string{"email": attacker, "code": code}, edit)
				if ver.Status != http.StatusForbidden || len(ver.SetCookie) != 0 {
					t.Errorf("%s: verify answered %d, cookies %v, want 403 and none: %s", name, ver.Status, ver.SetCookie, ver.Body)
				}
			}
			if me := env.Get(t, b, "/whoami"); me.UserID != first.UserID || !me.Anonymous {
				t.Fatalf("after the cross-origin verifies the visitor is %+v, was %s", me, first.UserID)
			}
			if n := len(env.Converted()); n != 0 {
				t.Fatalf("%d conversions after cross-origin verifies", n)
			}

			// The application's own page, with a browser's headers, converts.
			own := fromPage(serverOrigin(env), "same-origin", "application/json")
			ver := env.Do(t, b, http.MethodPost, "/convert/verify", map[string]string{"email": attacker, "code": code}, own)
			if ver.Status != http.StatusOK || ver.Anonymous {
				t.Fatalf("same-origin verify: %+v", ver)
			}
		})
	}
}

// TestConvertHandlersWantJSON checks that the conversion handlers refuse a
// body not declared JSON with 415 before reading it (an HTML form or a
// simple cross-origin fetch can send nothing else), and that every refused
// body gets an answer naming the body expected, in the handlers' own words.
func TestConvertHandlersWantJSON(t *testing.T) {
	env := anontest.NewEnv(t, netHTTP, nil)
	b, _ := env.Visitor(t)
	env.Emu.ResetRequests()
	send := func(path, contentType, body string) anontest.Me {
		return env.Do(t, b, http.MethodPost, path, nil, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(body))
			r.ContentLength = int64(len(body))
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
		})
	}
	shapes := map[string]string{
		"/convert/start":  `{"email": "…"} or {"phone": "…"}`,
		"/convert/verify": `{"email": "…", "code": "…"} or {"phone": "…", "code": "…"}`,
	}
	for path, shape := range shapes {
		for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x", "application/jsonp", "json", "application/json, text/plain"} {
			me := send(path, ct, `{"email":"ada@example.com","code":"123456"}`)
			if me.Status != http.StatusUnsupportedMediaType {
				t.Errorf("%s with Content-Type %q: %d, want 415: %s", path, ct, me.Status, me.Body)
				continue
			}
			if msg := errorAnswer(t, me); !strings.Contains(msg, "expected a JSON body "+shape) || !strings.Contains(msg, "application/json") {
				t.Errorf("%s with Content-Type %q: error %q does not name the body expected", path, ct, msg)
			}
		}
		for body, detail := range map[string]string{
			`email=ada@example.com`:       "not valid JSON",
			`{"email": "ada@example.com`:  "not valid JSON",
			``:                            "empty body",
			`["ada@example.com"]`:         "not a JSON object",
			`{"email": 5}`:                `"email" is not a string`,
			`{"mail": "ada@example.com"}`: `unknown field "mail"`,
			`{"email": "a@b.co"} {}`:      "more than one JSON value",
			`{}`:                          "give exactly one of email and phone",
		} {
			me := send(path, "application/json; charset=utf-8", body)
			if me.Status != http.StatusBadRequest {
				t.Errorf("%s %q: %d, want 400: %s", path, body, me.Status, me.Body)
				continue
			}
			msg := errorAnswer(t, me)
			if !strings.Contains(msg, detail) || !strings.HasSuffix(msg, "expected a JSON body "+shape) || strings.Contains(msg, "invalid character") {
				t.Errorf("%s %q: error %q, want %q and the body expected", path, body, msg, detail)
			}
		}
	}
	if n := env.Calls(); n != 0 {
		t.Errorf("refused bodies reached Descope %d times: %v", n, env.Emu.RequestLog())
	}
	// A JSON body with a charset parameter is JSON.
	if me := send("/convert/start", "Application/JSON; charset=utf-8", `{"email":"ada@example.com"}`); me.Status != http.StatusOK {
		t.Errorf("start with Application/JSON; charset=utf-8: %d %s", me.Status, me.Body)
	}
}
