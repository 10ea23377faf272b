package descopetest

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// A page on another origin calls the authentication API from the browser:
// Descope's web SDKs (core-js-sdk createHttpClient) send credentials:
// "include", an Authorization header and x-descope-* headers, so each call
// needs a preflight and an answer that names the page's origin and allows
// credentials. The emulator answers so for origins it allows (any loopback
// origin, and those of WithAllowedOrigins) on the paths of corsPrefixes;
// management calls carry the management key and get no CORS answer.

// corsPrefixes are the paths a browser page may call across origins: the
// authentication API, and flows, so that a page reads their "not
// emulated" answer instead of a CORS failure.
var corsPrefixes = []string{"/v1/auth/", "/v1/flow/"}

// corsMethods are the methods a preflight may ask for.
var corsMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// corsExposed are the answer headers a page's script may read: core-js-sdk
// reads Retry-After from a 429.
const corsExposed = "Retry-After"

// corsPath reports whether path is one a browser may call across origins.
func corsPath(path string) bool {
	return slices.ContainsFunc(corsPrefixes, func(p string) bool { return strings.HasPrefix(path, p) })
}

// normOrigin is the form origins are compared in: lower case, without a
// trailing slash.
func normOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

// loopbackOrigin reports whether origin is an http or https origin on a
// loopback host: localhost, 127.0.0.0/8 or [::1], any port.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originAllowed reports whether a page on origin may call the
// authentication API.
func (e *Emulator) originAllowed(origin string) bool {
	o := normOrigin(origin)
	return o != "" && o != "null" && (loopbackOrigin(o) || slices.Contains(e.cfg.origins, o))
}

// cors writes the CORS headers of r's answer, and answers r itself when it
// is a preflight of a CORS path: 204 for an allowed origin, 403 with a
// Descope error body for another. It returns the status of a preflight it
// answered, or 0 when r goes on to its route.
func (e *Emulator) cors(w http.ResponseWriter, r *http.Request) int {
	origin := r.Header.Get("Origin")
	if origin == "" || !corsPath(r.URL.Path) {
		return 0
	}
	h := w.Header()
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	} else {
		h.Add("Vary", "Origin")
	}
	if !e.originAllowed(origin) {
		if preflight {
			return writeError(w, &apiError{http.StatusForbidden, "E011003", "Origin not allowed",
				"origin " + origin + " may not call the emulator: only loopback origins and those given to WithAllowedOrigins (-allowed-origin) may"})
		}
		return 0
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposed)
		return 0
	}
	if m := r.Header.Get("Access-Control-Request-Method"); slices.Contains(corsMethods, m) {
		h.Set("Access-Control-Allow-Methods", m)
	}
	if allowed := corsHeaders(r.Header.Values("Access-Control-Request-Headers")); allowed != "" {
		h.Set("Access-Control-Allow-Headers", allowed)
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// corsHeaders returns the request headers of a preflight that the
// authentication API accepts, comma-separated: Authorization, Content-Type
// and Descope's own x-descope-* headers. A page that sends another header
// fails its preflight, as it would against a server that lists what it
// reads.
func corsHeaders(requested []string) string {
	var out []string
	for _, line := range requested {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "authorization" || name == "content-type" || strings.HasPrefix(name, "x-descope-") {
				out = append(out, name)
			}
		}
	}
	return strings.Join(out, ", ")
}
