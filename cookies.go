package anonymous

import (
	"net/http"
	"strings"
	"time"

	"github.com/descope/go-sdk/descope"
)

// maxTokenLen bounds a token the middleware will look at: browsers cap a
// cookie at 4 KB, and a longer value is not a token Descope issued.
const maxTokenLen = 4096

// varyCookie is shared by every response that does not set Vary itself. Its
// capacity is 1, so a handler that appends to Vary gets a new array.
var varyCookie = []string{"Cookie"}

// cookieValue returns the value of the cookie called name in r without
// allocating. dup is true when r carries two different values for it.
func cookieValue(r *http.Request, name string) (value string, dup bool) {
	found := false
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var k, v string
			k, v, line = nextCookie(line)
			if k != name {
				continue
			}
			if found && v != value {
				return "", true
			}
			value, found = v, true
		}
	}
	return value, false
}

// visitorCookies returns the session, refresh and local ID cookies of r, as
// cookieValue does, in one pass; dup is true when one of them has two
// different values.
func (m *Middleware) visitorCookies(r *http.Request) (ds, dsr, dsl string, dup bool) {
	var seen [3]bool
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var name, v string
			name, v, line = nextCookie(line)
			var slot *string
			var k int
			switch name {
			case "":
				continue
			case m.cfg.sessionCookie:
				slot, k = &ds, 0
			case m.cfg.refreshCookie:
				slot, k = &dsr, 1
			case m.local.name:
				slot, k = &dsl, 2
			default:
				continue
			}
			if seen[k] && v != *slot {
				return "", "", "", true
			}
			*slot, seen[k] = v, true
		}
	}
	return ds, dsr, dsl, false
}

// nextCookie splits the first name=value pair off a Cookie header line,
// without allocating: the value loses its surrounding quotes, and a part
// without "=" has an empty name.
func nextCookie(line string) (name, value, rest string) {
	part := line
	if i := strings.IndexByte(line, ';'); i >= 0 {
		part, rest = line[:i], line[i+1:]
	}
	part = strings.TrimSpace(part)
	eq := strings.IndexByte(part, '=')
	if eq < 0 {
		return "", "", rest
	}
	name, value = part[:eq], part[eq+1:]
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	return name, value, rest
}

// bearerToken returns the token of an "Authorization: Bearer" header. It
// reads the header map directly: the key is canonical already, and Get would
// check it again on every request.
func bearerToken(r *http.Request) string {
	var h string
	if v := r.Header["Authorization"]; len(v) > 0 {
		h = v[0]
	}
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// markVary adds "Vary: Cookie": the response depends on who the visitor is.
func markVary(h http.Header) {
	v, ok := h["Vary"]
	if !ok {
		h["Vary"] = varyCookie[:1:1]
		return
	}
	for _, s := range v {
		if strings.Contains(s, "Cookie") || s == "*" {
			return
		}
	}
	h["Vary"] = append(v, "Cookie")
}

func (m *Middleware) cookie(name, value string, exp int64) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     m.cfg.cookiePath,
		Domain:   m.cfg.cookieDomain,
		Secure:   m.cfg.cookieSecure,
		HttpOnly: m.cfg.cookieHTTPOnly,
		SameSite: m.cfg.cookieSameSite,
	}
	if exp > 0 {
		c.Expires = time.Unix(exp, 0).UTC()
		c.MaxAge = max(int(c.Expires.Sub(m.now()).Seconds()), 1)
	}
	return c
}

// writeTokens sets the session cookie and, when refresh is non-nil, the
// refresh cookie, with the cache headers a response carrying a cookie needs.
func (m *Middleware) writeTokens(w http.ResponseWriter, session, refresh *descope.Token) {
	now := m.now().Unix()
	if session != nil && session.Expiration <= now {
		session = nil // already expired: the browser would only send it back in vain
	}
	if refresh != nil && refresh.Expiration <= now {
		refresh = nil
	}
	if session == nil && refresh == nil {
		return
	}
	h := w.Header()
	markVary(h)
	PreventSharedCaching(h)
	if session != nil {
		http.SetCookie(w, m.cookie(m.cfg.sessionCookie, session.JWT, session.Expiration))
	}
	if refresh != nil {
		http.SetCookie(w, m.cookie(m.cfg.refreshCookie, refresh.JWT, refresh.Expiration))
	}
}

// ClearCookies expires the session and refresh cookies, and the local ID
// cookie when local keys are set, for logout. It does
// not revoke the refresh token at Descope; [Middleware.Logout] does both.
func (m *Middleware) ClearCookies(w http.ResponseWriter) {
	h := w.Header()
	markVary(h)
	PreventSharedCaching(h)
	for _, name := range []string{m.cfg.sessionCookie, m.cfg.refreshCookie} {
		c := m.cookie(name, "", 0)
		c.MaxAge = -1
		http.SetCookie(w, c)
	}
	m.clearLocal(w)
}

// headerBuffer is a ResponseWriter that only collects headers: the cookies
// the SDK writes during a refresh, or those of a step not yet sure to stand.
type headerBuffer struct{ h http.Header }

func (b *headerBuffer) Header() http.Header         { return b.h }
func (b *headerBuffer) Write(p []byte) (int, error) { return len(p), nil }
func (b *headerBuffer) WriteHeader(int)             {}

// copyTo adds the collected headers to w's: the cookies after any already
// set there, Vary merged.
func (b *headerBuffer) copyTo(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range b.h {
		switch k {
		case "Vary":
			markVary(h)
		case "Set-Cookie":
			h[k] = append(h[k], vs...) // later cookies win in the browser
		default:
			h[k] = append([]string(nil), vs...)
		}
	}
}
