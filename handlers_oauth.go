package anonymous

import (
	"fmt"
	"net/http"
)

// OAuthStartRequest is the JSON body of [Middleware.ConvertOAuthStartHandler].
type OAuthStartRequest struct {
	Provider string `json:"provider"`
}

// OAuthFinishRequest is the JSON body of
// [Middleware.ConvertOAuthFinishHandler]: the code and state query
// parameters of the callback page.
type OAuthFinishRequest struct {
	Code  string `json:"code"`
	State string `json:"state"`
}

// The JSON bodies the social login handlers expect.
const (
	oauthStartBody  = `{"provider": "…"}`
	oauthFinishBody = `{"code": "…", "state": "…"}`
)

// ConvertOAuthStartHandler answers POST {"provider": …} by starting a
// social login conversion ([Middleware.StartOAuthConversion]) that returns
// to the first page of [WithOAuthRedirectURLs], with 200 {"url": …}: the
// page then navigates there. Errors are JSON {"error": …} as for
// [Middleware.ConvertStartHandler] (also 405, 403 and 415 before the body is
// read), and 400 when no redirect URL is configured or the provider name is
// malformed. Mount it behind the middleware.
func (m *Middleware) ConvertOAuthStartHandler() http.Handler {
	return m.postHandler(oauthStartBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req OAuthStartRequest
		if err := decodeBody(w, r, oauthStartBody, &req, false); err != nil {
			return nil, err
		}
		if req.Provider == "" {
			return nil, fmt.Errorf("%w: no provider: expected a JSON body %s", errBadRequest, oauthStartBody)
		}
		to, err := m.StartOAuthConversion(r, req.Provider, "")
		if err != nil {
			return nil, err
		}
		return map[string]string{"url": to}, nil
	})
}

// ConvertOAuthFinishHandler answers POST {"code": …, "state": …} by
// finishing a social login conversion ([Middleware.FinishOAuthConversion]),
// with 200 {"userId", "anonymous", "loginIds", "outcome"} and fresh
// cookies: outcome is [OutcomeCreated] for a user the sign-up created,
// [OutcomeSignedIn] for a returning customer's account. The callback page
// reads its code and state query parameters and POSTs them
// here from the page's own origin: the GET that opens the page must not
// convert (another site can cause it). When the callback carries err
// instead of code, the page shows it and posts nothing. Errors are JSON
// {"error": …}: 400 for a refused or used code, 409 when the visitor has
// no pending social login with that state or the account exists already
// (with [WithReturningCustomers](false) and no [WithMerge]), and, as for the other handlers, 405, 403 and 415
// before the body is read. Mount it behind the middleware.
func (m *Middleware) ConvertOAuthFinishHandler() http.Handler {
	return m.postHandler(oauthFinishBody, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req OAuthFinishRequest
		if err := decodeBody(w, r, oauthFinishBody, &req, false); err != nil {
			return nil, err
		}
		if req.Code == "" || req.State == "" {
			return nil, fmt.Errorf("%w: no code or state: expected a JSON body %s", errBadRequest, oauthFinishBody)
		}
		return finished(r, func(r *http.Request) (*User, error) { return m.FinishOAuthConversion(w, r, req.Code, req.State) })
	})
}
