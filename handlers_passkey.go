package anonymous

import (
	"fmt"
	"net/http"
)

// PasskeyStartRequest is the JSON body of
// [Middleware.ConvertPasskeyStartHandler]: the name of the passkey account.
type PasskeyStartRequest struct {
	Name string `json:"name"`
}

// PasskeyFinishRequest is the JSON body of
// [Middleware.ConvertPasskeyFinishHandler]: the transaction ID of the start
// and the browser's credential, as Descope's JS SDKs encode the answer of
// navigator.credentials.create or get.
type PasskeyFinishRequest struct {
	TransactionID string `json:"transactionId"`
	Response      string `json:"response"`
}

// The JSON bodies the passkey handlers expect.
const (
	passkeyStartBody  = `{"name": "…"}`
	passkeyFinishBody = `{"transactionId": "…", "response": "…"}`
)

// ConvertPasskeyStartHandler answers POST {"name": …} by starting a
// passkey conversion ([Middleware.StartPasskeyConversion]) for the origin
// of the page that posts (one of [WithPasskeyOrigins]), with 200
// {"transactionId", "options", "create"}: the page then calls
// navigator.credentials.create (create true) or get with the options.
// Errors are JSON {"error": …} with the status [ErrorStatus] gives: 400 for
// a name that breaks the rule or an origin not allowed, 409 when the name
// belongs to an account that may not be signed in to here, 429 over the
// limits; and, as for the other handlers, 405, 403 and 415 before the body
// is read. Mount it behind the middleware.
func (m *Middleware) ConvertPasskeyStartHandler() http.Handler {
	return m.postHandler(passkeyStartBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req PasskeyStartRequest
		if err := decodeBody(w, r, passkeyStartBody, &req, false); err != nil {
			return nil, err
		}
		if req.Name == "" {
			return nil, fmt.Errorf("%w: no name: expected a JSON body %s", errBadRequest, passkeyStartBody)
		}
		return m.StartPasskeyConversion(r, req.Name)
	})
}

// ConvertPasskeyFinishHandler answers POST {"transactionId": …,
// "response": …} by finishing a passkey conversion
// ([Middleware.FinishPasskeyConversion]), with 200 {"userId", "anonymous",
// "loginIds", "outcome"} and fresh cookies (outcome: "converted",
// "signed_in" to the existing account that holds the name, or "created").
// Errors are JSON {"error": …}: 400 for a credential Descope refuses, 409
// when the visitor has no pending passkey conversion with that
// transaction, or the name is another account's; and, as for the other
// handlers, 405, 403 and 415 before the body is read. The body may be up to
// 32 KiB (a registration carries the authenticator's attestation). Mount
// it behind the middleware.
func (m *Middleware) ConvertPasskeyFinishHandler() http.Handler {
	return m.postHandler(passkeyFinishBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req PasskeyFinishRequest
		if err := decodeBodyMax(w, r, passkeyFinishBody, &req, false, maxPasskeyResponse+maxBodyBytes); err != nil {
			return nil, err
		}
		if req.TransactionID == "" || req.Response == "" {
			return nil, fmt.Errorf("%w: no transactionId or response: expected a JSON body %s", errBadRequest, passkeyFinishBody)
		}
		return finished(r, func(r *http.Request) (*User, error) {
			return m.FinishPasskeyConversion(w, r, req.TransactionID, req.Response)
		})
	})
}
