package anonymous

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
)

// Keeping identities out of shared caches. A response that sets a visitor's
// identity cookies must never be stored by a shared cache (a CDN, a reverse
// proxy): the next visitor without cookies would be served the first one's
// Set-Cookie, and so its identity. The middleware marks such a response
// "Cache-Control: private" before the handler runs, and [Middleware.Handler]
// checks again just before the header is written, whatever the handler set
// meanwhile (RFC 9111 §5.2.2.7: a shared cache must not store a private
// response; RFC 9213: a CDN reads CDN-Cache-Control instead of
// Cache-Control). On every other response (the hot path of a returning
// visitor) the handler's headers and the ResponseWriter are left as they
// are.

// cacheControlPrivate is what the middleware sets on a response on which it
// writes a cookie.
const cacheControlPrivate = "private"

// PreventSharedCaching makes the response whose header is h one that no
// shared cache may store: its Cache-Control loses "public" and "s-maxage"
// and, unless it says "no-store", gains "private" ("public, max-age=3600"
// becomes "private, max-age=3600": the visitor's own browser may still keep
// it); and the fields a CDN obeys instead of Cache-Control
// (CDN-Cache-Control and the like, Surrogate-Control) are removed. Call it
// just before the header is written.
//
// [Middleware.Handler] calls it on every response on which the middleware set
// an identity cookie, whatever the handler set in between; framework
// adapters built on [Middleware.Process] must do the same (the gin and echo
// ones do). A handler that sets Cache-Control after [Middleware.Ensure],
// [Middleware.FinishConversion], [Middleware.PromoteTo] or [Middleware.Logout]
// wrote cookies on its response should call it last.
func PreventSharedCaching(h http.Header) {
	for k := range h {
		if k == "Surrogate-Control" || strings.HasSuffix(k, "Cdn-Cache-Control") {
			delete(h, k)
		}
	}
	var keep []string
	private, dropped := false, false
	for _, line := range h["Cache-Control"] {
		for line != "" {
			var d string
			d, line = nextDirective(line)
			name, _, qualified := strings.Cut(d, "=")
			switch name = strings.ToLower(strings.TrimSpace(name)); {
			case name == "":
			case name == "public" || name == "s-maxage" || name == "private" && qualified:
				dropped = true // for shared caches only, or superseded by private
			default:
				private = private || name == "private" || name == "no-store"
				keep = append(keep, d)
			}
		}
	}
	switch {
	case private && !dropped:
		return
	case !private:
		keep = append([]string{cacheControlPrivate}, keep...)
	}
	h["Cache-Control"] = []string{strings.Join(keep, ", ")}
}

// nextDirective splits the first directive off a Cache-Control list: up to
// the first comma outside a quoted string, spaces trimmed.
func nextDirective(line string) (d, rest string) {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return strings.TrimSpace(line[:i]), line[i+1:]
		}
	}
	return strings.TrimSpace(line), ""
}

// cacheGuard is the ResponseWriter [Middleware.Handler] hands on with a
// response on which the middleware set identity cookies: it calls
// PreventSharedCaching just before the final header is written (by
// WriteHeader, the first Write, or a flush), so that no Cache-Control a
// handler sets opens the response to shared caches. Unwrap gives the
// writer it wraps, for http.ResponseController; the variants below keep the
// optional interfaces that writer has.
type cacheGuard struct {
	http.ResponseWriter
	sent bool // the final header is written
}

// newCacheGuard wraps w, keeping what it offers of http.Flusher,
// http.Hijacker and io.ReaderFrom (a net/http HTTP/1 writer) or http.Pusher
// (an HTTP/2 one).
func newCacheGuard(w http.ResponseWriter) http.ResponseWriter {
	g := cacheGuard{ResponseWriter: w}
	_, fl := w.(http.Flusher)
	_, hj := w.(http.Hijacker)
	_, rf := w.(io.ReaderFrom)
	_, ps := w.(http.Pusher)
	switch {
	case fl && hj && rf:
		return &h1Guard{g}
	case fl && ps:
		return &h2Guard{g}
	case fl:
		return &flushGuard{g}
	}
	return &g
}

// send makes the response uncacheable by shared caches before its final
// header goes out.
func (g *cacheGuard) send() {
	if !g.sent {
		g.sent = true
		PreventSharedCaching(g.ResponseWriter.Header())
	}
}

func (g *cacheGuard) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		// An informational answer sends the header as it is now; the final
		// one will be checked again.
		PreventSharedCaching(g.ResponseWriter.Header())
	} else {
		g.send()
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *cacheGuard) Write(b []byte) (int, error) {
	g.send()
	return g.ResponseWriter.Write(b)
}

// FlushError flushes through http.ResponseController, which calls it before
// it would unwrap the guard.
func (g *cacheGuard) FlushError() error {
	g.send()
	return http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap returns the writer the guard wraps.
func (g *cacheGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

type flushGuard struct{ cacheGuard }

func (g *flushGuard) Flush() { _ = g.FlushError() }

type h1Guard struct{ cacheGuard }

func (g *h1Guard) Flush() { _ = g.FlushError() }

func (g *h1Guard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.sent = true // the handler writes its own answer on the connection
	return g.ResponseWriter.(http.Hijacker).Hijack()
}

func (g *h1Guard) ReadFrom(src io.Reader) (int64, error) {
	g.send()
	return g.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

type h2Guard struct{ cacheGuard }

func (g *h2Guard) Flush() { _ = g.FlushError() }

func (g *h2Guard) Push(target string, opts *http.PushOptions) error {
	return g.ResponseWriter.(http.Pusher).Push(target, opts)
}
