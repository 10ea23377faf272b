package descopetest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/descope/go-sdk/descope"
)

// Fault describes a failure to inject on a path with InjectFault.
type Fault struct {
	// Status, when not 0, answers with this HTTP status and a Descope error
	// body: E130429 for 429, otherwise E011001 with the description
	// "emulated fault". Avoid 503 and 520-530: the SDK retries those with
	// 5-second pauses.
	Status int
	// RetryAfter, when positive, is sent as the Retry-After header in
	// seconds (the SDK reports it in the error's Info for 429).
	RetryAfter int
	// Latency delays the answer. The delay ends early when the request's
	// context is cancelled (then nothing is answered), when ClearFaults is
	// called or when the emulator is closed. Without Status or Drop the
	// request is then handled normally.
	Latency time.Duration
	// Drop closes the connection without any response. Go's HTTP client
	// may resend an idempotent request (such as a GET) once on a fresh
	// connection, so with Times 1 such a request can still succeed. When
	// the ResponseWriter cannot be hijacked (HTTP/2, a recorder), the
	// handler panics with http.ErrAbortHandler, which net/http servers
	// turn into an aborted response.
	Drop bool
	// Times limits the fault to the next Times requests on the path;
	// 0 applies it until ClearFaults.
	Times int
	// Before, when set, runs after Latency and before the request is
	// handled: a test stages a race with it (another client's call landing
	// between two of the library's). It must not call back into the
	// emulator's HTTP API synchronously from the same path.
	Before func()
}

// Request is one entry of the request log.
type Request struct {
	Method string
	Path   string
	// Status is the HTTP status answered, or 0 when no response was sent
	// (dropped connection, cancelled request).
	Status int
	// Time is when the request arrived, on the emulator's clock.
	Time time.Time
}

// InjectFault makes requests to path (the URL path without query, such as
// "/v1/auth/refresh") fail as f describes, whatever their method. Faults
// apply before authentication and routing, and replace any earlier fault on
// the same path.
func (e *Emulator) InjectFault(path string, f Fault) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.faults[path] = &faultState{f: f, left: max(f.Times, 0)}
}

// ClearFaults removes all injected faults and ends the Latency of requests
// still delayed by one; those go on as their fault says after the delay
// (handled normally when it has no Status or Drop).
func (e *Emulator) ClearFaults() {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	clear(e.faults)
	close(e.cleared)
	e.cleared = make(chan struct{})
}

// Requests returns how many requests arrived for path, including faulted,
// rate-limited and rejected ones.
func (e *Emulator) Requests(path string) int {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return e.counts[path]
}

// TotalRequests returns how many requests arrived on any path.
func (e *Emulator) TotalRequests() int {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return e.total
}

// RequestLog returns a copy of the log of finished requests, oldest first.
// It keeps at least the 100,000 most recent ones.
func (e *Emulator) RequestLog() []Request {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return append([]Request(nil), e.log...)
}

// ResetRequests clears the request counts and the request log.
func (e *Emulator) ResetRequests() {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	clear(e.counts)
	e.total = 0
	e.log = nil
}

// Outbox returns the latest one-time code sent to an email address or phone
// number. The HTTP endpoint GET /emulator/v1/outbox?address=... answers the
// same as {"code":"123456"}, or 404 when no code was sent.
func (e *Emulator) Outbox(address string) (code string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	code, ok = e.outbox[normLogin(address)]
	return code, ok
}

// User returns a snapshot of the user with this login ID or user ID.
func (e *Emulator) User(loginIDOrUserID string) (descope.UserResponse, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.findUserLocked(loginIDOrUserID)
	if u == nil {
		return descope.UserResponse{}, false
	}
	return *e.responseLocked(u), true
}

// UserCount returns the number of users in the project.
func (e *Emulator) UserCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.users)
}

// LiveRefreshTokens returns the number of refresh tokens issued for subject
// (a user ID, or the ID in a Descope-native anonymous token) that would
// still refresh: neither revoked (by logout, rotation or reuse detection)
// nor expired. A test asserts with it what no client can see, such as the
// tokens a server obtained and never handed out.
func (e *Emulator) LiveRefreshTokens(subject string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now() // token expiry is on the real clock, as the SDK checks it
	n := 0
	for jti := range e.userTokens[subject] {
		if rec := e.tokens[jti]; rec != nil && !rec.revoked && rec.exp.After(now) {
			n++
		}
	}
	return n
}

// ErrUserNotFound is returned by SetUserCreatedTime for an unknown user.
var ErrUserNotFound = errors.New("descopetest: user not found")

// SetUserCreatedTime sets a user's created time, to seed stale users. Its
// modified time moves too if it would otherwise precede the created time.
func (e *Emulator) SetUserCreatedTime(loginIDOrUserID string, t time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.findUserLocked(loginIDOrUserID)
	if u == nil {
		return ErrUserNotFound
	}
	u.created = t
	if u.modified.Before(t) {
		u.modified = t
	}
	return nil
}

// SignToken signs claims exactly as given with this emulator's key and key
// ID, to forge tokens for edge-case tests. It adds nothing: set iss, exp,
// drn and the rest yourself.
func (e *Emulator) SignToken(claims map[string]any) (string, error) {
	return e.signer.sign(claims)
}

// Claims decodes the claims of a JWT without verifying it, for tests that
// look inside the tokens the emulator (or anything else) issued.
func Claims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("descopetest: not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("descopetest: JWT payload: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("descopetest: JWT claims: %w", err)
	}
	return c, nil
}

// KeyID returns the kid of this emulator's signing key, as its JWKS and
// token headers carry it.
func (e *Emulator) KeyID() string { return e.signer.kid }

// handleOutbox answers the latest code sent to the query's address: the
// HTTP side of Outbox.
func (e *Emulator) handleOutbox(c *call) (any, *apiError) {
	addr, a := c.query("address")
	if a != nil {
		return nil, a
	}
	code, ok := e.Outbox(addr)
	if !ok {
		return nil, notFound("no one-time code was sent to " + addr)
	}
	return map[string]string{"code": code}, nil
}
