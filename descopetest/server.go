package descopetest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody is the largest request body the emulator reads.
const maxBody = 1 << 20

// apiError is a Descope error response.
type apiError struct {
	status int
	code   string
	desc   string
	msg    string
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "E011001", "Bad request", fmt.Sprintf(format, args...)}
}

func missingArg(name string) *apiError {
	return &apiError{http.StatusBadRequest, "E011002", "Missing arguments", name + " is required"}
}

// field is a named value of a request, for required.
type field struct{ name, value string }

// required returns the missingArg error of the first of fields whose value
// is empty, or nil when none is.
func required(fields ...field) *apiError {
	for _, f := range fields {
		if f.value == "" {
			return missingArg(f.name)
		}
	}
	return nil
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "E011003", "Request is invalid", fmt.Sprintf(format, args...)}
}

func unauthorized(format string, args ...any) *apiError {
	return &apiError{http.StatusUnauthorized, "E011003", "Unauthorized", fmt.Sprintf(format, args...)}
}

func userExists(loginID string) *apiError {
	return &apiError{http.StatusBadRequest, "E062107", "User already exists", "login ID " + strconv.Quote(loginID) + " is already used by another user"}
}

func mgmtUserNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E112102", "User not found", "no user with login ID or user ID " + strconv.Quote(id)}
}

func authUserNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E062108", "User not found", "no user with login ID " + strconv.Quote(id)}
}

func userDisabled() *apiError {
	return unauthorized("user is disabled")
}

func tenantNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E011003", "Tenant not found", "no tenant with ID " + strconv.Quote(id)}
}

func loggedOut() *apiError {
	return &apiError{http.StatusUnauthorized, "E064001", "Token expired by logged out", "the refresh token was revoked"}
}

// writeError answers with a's status and Descope error body, and returns
// the status.
func writeError(w http.ResponseWriter, a *apiError) int {
	body, _ := json.Marshal(map[string]string{
		"errorCode":        a.code,
		"errorDescription": a.desc,
		"errorMessage":     a.msg,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
	return a.status
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
			return writeError(w, &apiError{http.StatusInternalServerError, "E011001", "Internal error", "encoding response: " + err.Error()})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

type authKind int

const (
	authNone       authKind = iota
	authProject             // Bearer <pid>
	authManagement          // Bearer <pid>:<managementKey>
	authRefresh             // Bearer <pid>:<refreshJwt>
)

// call is one request being handled.
type call struct {
	r       *http.Request
	arg     string       // the variable last path segment of dynamic routes
	refresh *tokenClaims // verified refresh token, for authRefresh routes
}

type handlerFunc func(c *call) (any, *apiError)

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
			return &apiError{http.StatusRequestEntityTooLarge, "E011001", "Bad request", "request body exceeds 1 MiB"}
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
// not decode is answered without it.
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

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.e.serve(w, r) }

// serve answers one request and records it in the request log, with the
// status answered (0 when none was).
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	start := e.now()
	fault := e.begin(path)
	status := 0
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler && status == 0 {
			status = writeError(w, &apiError{http.StatusInternalServerError, "E011001", "Internal error", fmt.Sprint("emulator failure: ", v)})
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
func (e *Emulator) answer(w http.ResponseWriter, r *http.Request, fault *Fault) int {
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

func rateLimited() *apiError {
	return &apiError{http.StatusTooManyRequests, "E130429", "https://docs.descope.com/rate-limit", "API rate limit exceeded."}
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
		return writeError(w, &apiError{http.StatusNotFound, "E011001", "Not found", "the emulator does not implement " + r.Method + " " + r.URL.Path})
	}
	rt, ok := methods[r.Method]
	if !ok {
		allowed := slices.Sorted(maps.Keys(methods))
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return writeError(w, &apiError{http.StatusMethodNotAllowed, "E011001", "Method not allowed", r.URL.Path + " accepts " + strings.Join(allowed, ", ")})
	}
	c := &call{r: r, arg: arg}
	if a := e.authorize(c, rt.auth); a != nil {
		return writeError(w, a)
	}
	body, a := rt.h(c)
	if a != nil {
		return writeError(w, a)
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

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

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
	case authRefresh:
		// The SDK appends a management key to auth calls when the client
		// has one; skip it and take the token.
		for _, p := range parts[1:] {
			if equalSecret(p, e.ManagementKey) || strings.Count(p, ".") != 2 {
				continue
			}
			tc, a := e.verifyRefresh(p)
			if a != nil {
				return a
			}
			c.refresh = tc
			return nil
		}
		return unauthorized("a refresh token is required: Bearer <project ID>:<refresh JWT>")
	}
	return nil
}

// ---- faults, statistics and rate limits ----

type faultState struct {
	f    Fault
	left int // remaining applications; 0 = until cleared
}

type rateWindow struct {
	start time.Time
	n     int
}

// begin counts a request and returns the fault to apply to it, if any.
func (e *Emulator) begin(path string) *Fault {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.counts[path]++
	e.total++
	fs := e.faults[path]
	if fs == nil {
		return nil
	}
	f := fs.f
	if fs.left > 0 {
		fs.left--
		if fs.left == 0 {
			delete(e.faults, path)
		}
	}
	return &f
}

// maxLog is the number of most recent requests RequestLog keeps.
const maxLog = 100_000

func (e *Emulator) finish(method, path string, status int, t time.Time) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if len(e.log) >= 2*maxLog {
		n := copy(e.log, e.log[len(e.log)-maxLog:])
		clear(e.log[n:])
		e.log = e.log[:n]
	}
	e.log = append(e.log, Request{Method: method, Path: path, Status: status, Time: t})
}

// applyFault applies f and reports whether the request is finished, with
// the status answered (0 when none was).
func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) (status int, done bool) {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, true
		case <-e.done:
			t.Stop()
		}
	}
	if f.Before != nil {
		f.Before()
	}
	if f.Drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (HTTP/2, recorders): abort the response the
			// way net/http understands.
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return 0, true
	}
	if f.Status == 0 {
		return 0, false
	}
	status = f.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if status == http.StatusTooManyRequests {
		return writeError(w, rateLimited()), true
	}
	return writeError(w, &apiError{status, "E011001", "emulated fault", fmt.Sprintf("fault injected by descopetest for %s (status %d)", r.URL.Path, status)}), true
}

// rateBucket names the rate-limit bucket of a path and its limit per window.
func rateBucket(path string) (string, int) {
	switch {
	case path == "/v1/mgmt/user/create" || strings.HasPrefix(path, "/v1/mgmt/user/create/"):
		return "create", 100
	case path == "/v2/mgmt/user/search":
		return "search", 200
	case path == "/v1/mgmt/user/update" || path == "/v1/mgmt/user/patch" ||
		strings.HasPrefix(path, "/v1/mgmt/user/update/"):
		return "update", 200
	case path == "/v1/mgmt/user" || strings.HasPrefix(path, "/v1/mgmt/user/"):
		return "user", 500
	}
	return "", 0
}

const rateWindowLen = 60 * time.Second

// rateLimit counts a request against its bucket and reports whether it is
// over the limit, with the whole seconds until the window frees.
func (e *Emulator) rateLimit(path string) (int, bool) {
	name, limit := rateBucket(path)
	if name == "" {
		return 0, false
	}
	now := e.now()
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	w := e.windows[name]
	if w == nil || !now.Before(w.start.Add(rateWindowLen)) {
		w = &rateWindow{start: now}
		e.windows[name] = w
	}
	if w.n >= limit {
		wait := int(math.Ceil(w.start.Add(rateWindowLen).Sub(now).Seconds()))
		return max(wait, 1), true
	}
	w.n++
	return 0, false
}
