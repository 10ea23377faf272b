package anonymous

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBodyBytes bounds the JSON body of a conversion request.
const maxBodyBytes = 4 << 10

// ConvertRequest is the JSON body of the conversion handlers: one of Email or
// Phone, and Code for the verify step.
type ConvertRequest struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	Code  string `json:"code,omitempty"`
}

// UserJSON is the JSON the verify handler answers with, a user as a visitor
// may see it. (descope.UserResponse is the full profile; this is not it.)
type UserJSON struct {
	UserID    string   `json:"userId"`
	Anonymous bool     `json:"anonymous"`
	LoginIDs  []string `json:"loginIds"`
	// Outcome says how a verified conversion ended: [OutcomeConverted],
	// [OutcomeSignedIn] (a returning customer, in its existing account) or
	// [OutcomeCreated]. Only the verify handlers (and the social login
	// finish) set it, after the visitor proved the address.
	Outcome string `json:"outcome,omitempty"`
}

// NewUserJSON describes u for a JSON answer.
func NewUserJSON(u *User) UserJSON {
	ids := u.LoginIDs
	if ids == nil {
		ids = []string{}
	}
	return UserJSON{UserID: u.ID, Anonymous: u.Anonymous, LoginIDs: ids}
}

// The JSON bodies the conversion handlers expect, as their errors name them.
const (
	startBody  = `{"email": "…"} or {"phone": "…"}`
	verifyBody = `{"email": "…", "code": "…"} or {"phone": "…", "code": "…"}`
)

// ConvertStartHandler answers POST {"email": …} or {"phone": …} by sending a
// one-time code, with 200 {"maskedEmail": …} or {"maskedPhone": …}. Errors
// are JSON {"error": …} with the status [ErrorStatus] gives, and, before
// the body is read, 405 for another method, 403 for a request from a page of
// another origin (even of the same site; see [WithTrustedOrigins]) and 415
// for a body not sent as Content-Type: application/json. Mount it behind
// the middleware.
func (m *Middleware) ConvertStartHandler() http.Handler {
	return m.convertHandler(startBody, func(w http.ResponseWriter, r *http.Request, req ConvertRequest, addr string) (any, error) {
		masked, err := m.StartConversion(r, addr)
		if err != nil {
			return nil, err
		}
		return maskedAnswer(req, masked), nil
	})
}

// ConvertVerifyHandler answers POST {"email" or "phone", "code"} by finishing
// the conversion, with 200 {"userId", "anonymous", "loginIds", "outcome"}
// and fresh cookies (outcome: "converted", "signed_in" to the existing
// account that owns the address, or "created"). Errors are JSON {"error": …} with the status [ErrorStatus] gives:
// 400 for a wrong or expired code, 409 when the address belongs to another
// user, 429 after too many attempts; and, as for [Middleware.ConvertStartHandler],
// 405, 403 and 415 before the body is read. Mount it behind the middleware.
func (m *Middleware) ConvertVerifyHandler() http.Handler {
	return m.convertHandler(verifyBody, func(w http.ResponseWriter, r *http.Request, req ConvertRequest, addr string) (any, error) {
		return finished(r, func(r *http.Request) (*User, error) { return m.FinishConversion(w, r, addr, req.Code) })
	})
}

// finished runs a conversion's finish on r and answers the user, with the
// outcome the finish reached ([ConversionOutcome]).
func finished(r *http.Request, finish func(*http.Request) (*User, error)) (any, error) {
	r, outcome := ConversionOutcome(r)
	u, err := finish(r)
	if err != nil {
		return nil, err
	}
	j := NewUserJSON(u)
	j.Outcome = outcome()
	return j, nil
}

// maskedAnswer is a start's answer: {"maskedEmail": masked}, or
// {"maskedPhone": masked} when req named a phone.
func maskedAnswer(req ConvertRequest, masked string) map[string]string {
	if req.Phone != "" {
		return map[string]string{"maskedPhone": masked}
	}
	return map[string]string{"maskedEmail": masked}
}

// convertHandler admits a request (checkPost), decodes the ConvertRequest
// body names, runs step on it, and answers with its JSON, or with the error
// as writeError answers it.
func (m *Middleware) convertHandler(body string, step func(http.ResponseWriter, *http.Request, ConvertRequest, string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ConvertRequest
		var addr string
		err := m.checkPost(w, r, body)
		if err == nil {
			req, addr, err = decodeConvert(w, r, body)
		}
		if err == nil {
			var v any
			if v, err = step(w, r, req, addr); err == nil {
				writeJSON(w, http.StatusOK, v)
				return
			}
		}
		m.writeError(w, r, err)
	})
}

// decodeConvert reads a ConvertRequest with exactly one address. Its errors
// say what was wrong and name the body expected.
func decodeConvert(w http.ResponseWriter, r *http.Request, body string) (ConvertRequest, string, error) {
	var req ConvertRequest
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: expected a JSON body %s", errBadRequest, what, body)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, "", bad(decodeProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, "", bad("more than one JSON value")
	}
	if (req.Email == "") == (req.Phone == "") {
		return req, "", bad("give exactly one of email and phone")
	}
	return req, req.Email + req.Phone, nil
}

// decodeProblem says in a few words what a JSON decoding error found.
func decodeProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.As(err, &tooBig):
		return fmt.Sprintf("body over %d bytes", tooBig.Limit)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON"
	case errors.As(err, &typ) && typ.Field == "":
		return "not a JSON object"
	case errors.As(err, &typ):
		return fmt.Sprintf("%q is not a string", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "unreadable body"
}

// writeError answers a conversion request with a JSON error.
func (m *Middleware) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := ErrorStatus(err)
	if errors.Is(err, errCrossOrigin) {
		// A page of another origin tried to drive a conversion: worth a
		// line, not the error hook.
		m.cfg.logger.Info("conversion request refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"), "err", err)
	}
	if status >= 500 || errors.Is(err, ErrDescopeMerged) {
		m.cfg.logger.Warn("conversion failed", "path", r.URL.Path, "err", err)
		if m.cfg.errorHandler != nil {
			tw := &trackingWriter{ResponseWriter: w}
			m.cfg.errorHandler(tw, r, err)
			if tw.wrote {
				return
			}
		}
	}
	writeJSON(w, status, errorBody(err))
}
