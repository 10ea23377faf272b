package anonymous

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The handlers of the conversion methods besides the one-time code. Each
// admits a request as the code's handlers do (checkPost: POST only, no page
// of another origin, a body declared JSON) before anything else.

// LinkVerifyRequest is the JSON body of [Middleware.ConvertLinkVerifyHandler]:
// the token of the magic link, the t query parameter of the page it opened.
type LinkVerifyRequest struct {
	Token string `json:"token"`
}

// The JSON bodies the method handlers expect, as their errors name them.
const (
	linkVerifyBody = `{"token": "…"}`
	completeBody   = `{} (or an empty body)`
)

// ConvertLinkStartHandler answers POST {"email": …} or {"phone": …} by
// sending a magic link to the first page of [WithLinkURLs], with 200
// {"maskedEmail": …} or {"maskedPhone": …}. Errors are JSON {"error": …}
// as for [Middleware.ConvertStartHandler] (also 405, 403 and 415 before the
// body is read), and 400 when no link URL is configured. Mount it behind
// the middleware.
func (m *Middleware) ConvertLinkStartHandler() http.Handler {
	return m.convertHandler(startBody, func(w http.ResponseWriter, r *http.Request, req ConvertRequest, addr string) (any, error) {
		if req.Code != "" {
			return nil, fmt.Errorf("%w: unknown field \"code\": expected a JSON body %s", errBadRequest, startBody)
		}
		masked, err := m.StartLinkConversion(r, addr, "")
		if err != nil {
			return nil, err
		}
		return maskedAnswer(req, masked), nil
	})
}

// ConvertLinkVerifyHandler answers POST {"token": …} by finishing a magic
// link conversion ([Middleware.FinishLinkConversion]), with 200 {"userId",
// "anonymous", "loginIds"} and fresh cookies. The landing page the link
// opens reads its t query parameter and POSTs it here from the page's own
// origin: the GET that opens the link must not convert (it is a navigation
// another site can cause). Errors are JSON {"error": …}: 400 for a wrong,
// expired or used link, 409 when this visitor has no pending link
// conversion or the link is another visitor's, and, as for the other
// handlers, 405, 403 and 415 before the body is read. Mount it behind the
// middleware.
func (m *Middleware) ConvertLinkVerifyHandler() http.Handler {
	return m.postHandler(linkVerifyBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req LinkVerifyRequest
		if err := decodeBody(w, r, linkVerifyBody, &req, false); err != nil {
			return nil, err
		}
		if req.Token == "" {
			return nil, fmt.Errorf("%w: no token: expected a JSON body %s", errBadRequest, linkVerifyBody)
		}
		return finished(r, func(r *http.Request) (*User, error) { return m.FinishLinkConversion(w, r, req.Token) })
	})
}

// ConvertCompleteHandler answers POST (a JSON body {}, or none, declared
// application/json) by finishing a conversion the application's own Descope
// flow started ([Middleware.CompleteConversion]), with 200 {"userId",
// "anonymous", "loginIds"} and fresh cookies. Errors are JSON {"error": …}:
// 409 when no verified email or phone was added, when the visitor is not
// user-backed, or when it is converted already; and, as for the other
// handlers, 405, 403 and 415 before the body is read. Mount it behind the
// middleware.
func (m *Middleware) ConvertCompleteHandler() http.Handler {
	return m.postHandler(completeBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req struct{}
		if err := decodeBody(w, r, completeBody, &req, true); err != nil {
			return nil, err
		}
		u, err := m.CompleteConversion(w, r)
		if err != nil {
			return nil, err
		}
		return NewUserJSON(u), nil
	})
}

// postHandler admits a request (checkPost), runs step, and answers with
// its JSON, or with the error as writeError answers it.
func (m *Middleware) postHandler(body string, step func(http.ResponseWriter, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := m.checkPost(w, r, body)
		if err == nil {
			var v any
			if v, err = step(w, r); err == nil {
				writeJSON(w, http.StatusOK, v)
				return
			}
		}
		m.writeError(w, r, err)
	})
}

// decodeBody reads one JSON object into v, refusing unknown fields, more
// than one value and bodies over maxBodyBytes; emptyOK admits an empty
// body. Its errors say what was wrong and name the body expected.
func decodeBody(w http.ResponseWriter, r *http.Request, body string, v any, emptyOK bool) error {
	return decodeBodyMax(w, r, body, v, emptyOK, maxBodyBytes)
}

// decodeBodyMax is decodeBody for bodies of up to max bytes.
func decodeBodyMax(w http.ResponseWriter, r *http.Request, body string, v any, emptyOK bool, max int64) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: expected a JSON body %s", errBadRequest, what, body)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if emptyOK && errors.Is(err, io.EOF) {
			return nil
		}
		return bad(decodeProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("more than one JSON value")
	}
	return nil
}
