package anonymous

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
}

// NewUserJSON describes u for a JSON answer.
func NewUserJSON(u *User) UserJSON {
	ids := u.LoginIDs
	if ids == nil {
		ids = []string{}
	}
	return UserJSON{UserID: u.ID, Anonymous: u.Anonymous, LoginIDs: ids}
}

// ConvertStartHandler answers POST {"email": …} or {"phone": …} by sending a
// one-time code, with 200 {"maskedEmail": …} or {"maskedPhone": …}. Errors
// are JSON {"error": …} with the status [ErrorStatus] gives. Mount it behind
// the middleware.
func (m *Middleware) ConvertStartHandler() http.Handler {
	return m.convertHandler(func(w http.ResponseWriter, r *http.Request, req ConvertRequest, addr string) (any, error) {
		masked, err := m.StartConversion(r, addr)
		if err != nil {
			return nil, err
		}
		key := "maskedEmail"
		if req.Phone != "" {
			key = "maskedPhone"
		}
		return map[string]string{key: masked}, nil
	})
}

// ConvertVerifyHandler answers POST {"email" or "phone", "code"} by finishing
// the conversion, with 200 {"userId", "anonymous", "loginIds"} and fresh
// cookies. Errors are JSON {"error": …} with the status [ErrorStatus] gives:
// 400 for a wrong or expired code, 409 when the address belongs to another
// user, 429 after too many attempts. Mount it behind the middleware.
func (m *Middleware) ConvertVerifyHandler() http.Handler {
	return m.convertHandler(func(w http.ResponseWriter, r *http.Request, req ConvertRequest, addr string) (any, error) {
		u, err := m.FinishConversion(w, r, addr, req.Code)
		if err != nil {
			return nil, err
		}
		return NewUserJSON(u), nil
	})
}

// convertHandler decodes a ConvertRequest, runs step on it, and answers with
// its JSON, or with the error as writeError answers it.
func (m *Middleware) convertHandler(step func(http.ResponseWriter, *http.Request, ConvertRequest, string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, addr, err := decodeConvert(w, r)
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

// decodeConvert reads a ConvertRequest with exactly one address.
func decodeConvert(w http.ResponseWriter, r *http.Request) (ConvertRequest, string, error) {
	var req ConvertRequest
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return req, "", errMethod
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, "", fmt.Errorf("%w: trailing data", errBadRequest)
	}
	if (req.Email == "") == (req.Phone == "") {
		return req, "", fmt.Errorf("%w: give exactly one of email and phone", errBadRequest)
	}
	return req, req.Email + req.Phone, nil
}

// writeError answers a conversion request with a JSON error.
func (m *Middleware) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := ErrorStatus(err), publicMessage(err)
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
	writeJSON(w, status, map[string]string{"error": msg})
}
