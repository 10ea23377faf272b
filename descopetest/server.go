package descopetest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxBody is the largest request body the emulator reads.
const maxBody = 1 << 20

// authKind is the credential a route needs in its Authorization header.
type authKind int

const (
	authNone       authKind = iota
	authProject             // Bearer <pid>
	authManagement          // Bearer <pid>:<managementKey>
	authRefresh             // Bearer <pid>:<refreshJwt>
	authSession             // authRefresh, or Bearer <pid> and the refresh token in a cookie (cookieRefresh)
)

// call is one request being handled.
type call struct {
	r       *http.Request
	arg     string       // the variable last path segment of dynamic routes
	refresh *tokenClaims // verified refresh token, for authRefresh routes
}

// handlerFunc handles a call: it returns the body to answer with 200 (nil
// for {}), or the error to answer with.
type handlerFunc func(c *call) (any, *apiError)

// route is what serves one method of one path.
type route struct {
	auth authKind
	h    handlerFunc
}

// dynamicRoute serves the paths prefix + one more segment.
type dynamicRoute struct {
	prefix  string
	methods map[string]route
}

// decode reads the JSON body into v. An empty body leaves v untouched, so
// required-field checks report what is missing.
func (c *call) decode(v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, c.r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return bodyTooLarge()
		}
		return badRequest("reading request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("malformed JSON body: %v", err)
	}
	return nil
}

// withBody adapts a handler of a JSON body to a handlerFunc: the body is
// decoded into a new T (see call.decode) before h runs, and a body that does
// not decode is answered without it. Each handler file declares the bodies
// its handlers read at its top, as the xxxRequest types.
func withBody[T any](h func(c *call, req *T) (any, *apiError)) handlerFunc {
	return func(c *call) (any, *apiError) {
		var req T
		if a := c.decode(&req); a != nil {
			return nil, a
		}
		return h(c, &req)
	}
}

// query returns the query parameter name of the request, or the
// missingArg error when it is empty.
func (c *call) query(name string) (string, *apiError) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return "", missingArg(name)
	}
	return v, nil
}

// handler serves the emulator without exporting ServeHTTP on Emulator.
type handler struct{ e *Emulator }

// ServeHTTP serves the emulated API.
func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.e.serve(w, r) }

// serve answers one request and records it in the request log, with the
// status answered (0 when none was).
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	start := e.now()
	if status := e.cors(w, r); status != 0 {
		// A preflight: logged, but neither counted by Requests nor
		// subject to faults.
		e.finish(r.Method, path, status, start)
		return
	}
	fault := e.begin(path)
	status := 0
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler && status == 0 {
			status = writeError(w, internalError(fmt.Sprint("emulator failure: ", v)))
		}
		e.finish(r.Method, path, status, start)
		if v == http.ErrAbortHandler {
			panic(v)
		}
	}()
	status = e.answer(w, r, fault)
}

// answer applies fault, when not nil, then the rate limits, then the route
// of r, and returns the status answered (0 when none was).
func (e *Emulator) answer(w http.ResponseWriter, r *http.Request, fault *appliedFault) int {
	if fault != nil {
		if status, done := e.applyFault(w, r, fault); done {
			return status
		}
	}
	if e.cfg.rateLimits {
		if wait, limited := e.rateLimit(r.URL.Path); limited {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			return writeError(w, rateLimited())
		}
	}
	return e.dispatch(w, r)
}

// lookup returns the routes of path by method, and the variable segment of
// dynamic paths.
func (e *Emulator) lookup(path string) (map[string]route, string) {
	if m, ok := e.exact[path]; ok {
		return m, ""
	}
	for _, d := range e.dynamic {
		if arg, ok := strings.CutPrefix(path, d.prefix); ok && arg != "" && !strings.Contains(arg, "/") {
			return d.methods, arg
		}
	}
	return nil, ""
}

// dispatch answers r by its route, after authorizing it, and returns the
// status answered.
func (e *Emulator) dispatch(w http.ResponseWriter, r *http.Request) int {
	methods, arg := e.lookup(r.URL.Path)
	if methods == nil {
		return writeError(w, notFound("the emulator does not implement "+r.Method+" "+r.URL.Path))
	}
	rt, ok := methods[r.Method]
	if !ok {
		allowed := slices.Sorted(maps.Keys(methods))
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return writeError(w, methodNotAllowed(r.URL.Path+" accepts "+strings.Join(allowed, ", ")))
	}
	c := &call{r: r, arg: arg}
	if a := e.authorize(c, rt.auth); a != nil {
		return writeError(w, a)
	}
	body, a := rt.h(c)
	if a != nil {
		return writeError(w, a)
	}
	if raw, ok := body.(rawAnswer); ok {
		return raw.write(w) // the emulated OAuth provider's pages
	}
	return writeJSON(w, body)
}

// bearerParts splits "Bearer a:b:c" into its colon-separated parts.
func bearerParts(h string) []string {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil
	}
	v := strings.TrimSpace(h[len(prefix):])
	if v == "" {
		return nil
	}
	return strings.Split(v, ":")
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// authorize checks the call's Authorization header against kind and, for
// authRefresh, verifies the refresh token it carries into c.refresh.
func (e *Emulator) authorize(c *call, kind authKind) *apiError {
	if kind == authNone {
		return nil
	}
	parts := bearerParts(c.r.Header.Get("Authorization"))
	if len(parts) == 0 {
		return unauthorized("missing Authorization: Bearer <project ID> header")
	}
	if parts[0] != e.ProjectID {
		return unauthorized("unknown project ID %q", parts[0])
	}
	switch kind {
	case authManagement:
		for _, p := range parts[1:] {
			if equalSecret(p, e.ManagementKey) {
				return nil
			}
		}
		return unauthorized("a valid management key is required: Bearer <project ID>:<management key>")
	case authRefresh, authSession:
		tok := e.bearerRefresh(parts)
		if tok == "" && kind == authSession {
			tok = cookieRefresh(c.r)
		}
		if tok == "" {
			return unauthorized("a refresh token is required: Bearer <project ID>:<refresh JWT>")
		}
		tc, a := e.verifyRefresh(tok)
		if a != nil {
			return a
		}
		c.refresh = tc
	}
	return nil
}

// bearerRefresh returns the refresh token among the parts of an
// Authorization header after the project ID, or "" when there is none. The
// SDKs append a management key to auth calls when the client has one; it
// is skipped.
func (e *Emulator) bearerRefresh(parts []string) string {
	if len(parts) < 2 {
		return ""
	}
	for _, p := range parts[1:] {
		if !equalSecret(p, e.ManagementKey) && strings.Count(p, ".") == 2 {
			return p
		}
	}
	return ""
}

// writeJSON answers 200 with v as JSON (nil as {}), or 500 when v does not
// encode, and returns the status.
func writeJSON(w http.ResponseWriter, v any) int {
	var body []byte
	if v == nil {
		body = []byte("{}")
	} else {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return writeError(w, internalError("encoding response: "+err.Error()))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}
