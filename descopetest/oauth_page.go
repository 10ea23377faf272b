package descopetest

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The emulated provider page: where the url of an OAuth authorize call
// points. GET shows a form to pick an account entered before on this
// provider's page, type one (email, name, account ID, whether the email is
// verified), or deny; POST submits it and redirects the browser to the
// authorization's redirectURL with ?code=... or ?err=... (an OAuthErr...
// value). The page is usable once, for OAuthCodeTTL; so is the code.

// oauthPagePath is the path of the provider page.
const oauthPagePath = "/emulator/v1/oauth/authorize"

// maxRememberedAccounts is how many accounts a provider page offers.
const maxRememberedAccounts = 20

// rawAnswer is a handler's answer that is not JSON: it writes itself and
// returns the status.
type rawAnswer interface {
	write(w http.ResponseWriter) int
}

// htmlAnswer is an HTML page.
type htmlAnswer struct {
	status int
	body   []byte
}

// write answers the page, never cached or framed.
func (h htmlAnswer) write(w http.ResponseWriter) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body)
	return h.status
}

// redirectAnswer sends the browser to location with 303 See Other, so the
// form's POST becomes a GET.
type redirectAnswer struct{ location string }

// write answers the redirect.
func (r redirectAnswer) write(w http.ResponseWriter) int {
	w.Header().Set("Location", r.location)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
	return http.StatusSeeOther
}

// oauthPageData fills oauthPage.
type oauthPageData struct {
	State    string
	Provider string
	Redirect string
	Update   bool
	Hint     string
	Accounts []oauthAccount
	Problem  string
}

// oauthPage is the provider page.
var oauthPage = template.Must(template.New("oauth").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in with {{.Provider}} (descopetest)</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto}fieldset{margin:1rem 0}label{display:block;margin:.4rem 0}</style>
</head><body>
<h1>Sign in with {{.Provider}}</h1>
<p>Emulated provider page of descopetest. {{if .Update}}The account will be linked to the signed-in user.{{end}}
After this page the browser goes back to <code>{{.Redirect}}</code>.</p>
{{if .Problem}}<p id="problem" role="alert">{{.Problem}}</p>{{end}}
{{if .Accounts}}<fieldset><legend>Choose an account</legend>
{{range $i, $a := .Accounts}}<form method="post" action="authorize">
<input type="hidden" name="state" value="{{$.State}}">
<input type="hidden" name="sub" value="{{$a.Sub}}">
<input type="hidden" name="email" value="{{$a.Email}}">
<input type="hidden" name="name" value="{{$a.Name}}">
{{if $a.Verified}}<input type="hidden" name="verified" value="on">{{end}}
<button type="submit" name="action" value="allow" id="account-{{$i}}">{{$a.Email}} {{$a.Name}} ({{$a.Sub}})</button>
</form>
{{end}}</fieldset>{{end}}
<form method="post" action="authorize" id="account-form"><fieldset><legend>{{if .Accounts}}Use another account{{else}}Account{{end}}</legend>
<input type="hidden" name="state" value="{{.State}}">
<label>Email <input type="email" name="email" id="email" value="{{.Hint}}"></label>
<label>Name <input type="text" name="name" id="name"></label>
<label>Account ID at {{.Provider}} (derived from the email when empty) <input type="text" name="sub" id="sub"></label>
<label><input type="checkbox" name="verified" id="verified" checked> The provider verified the email</label>
<button type="submit" name="action" value="allow" id="allow">Sign in</button>
<button type="submit" name="action" value="deny" id="deny" formnovalidate>Deny</button>
</fieldset></form>
</body></html>
`))

// handleOAuthPage shows the provider page of the query's state.
func (e *Emulator) handleOAuthPage(c *call) (any, *apiError) {
	id, a := c.query("state")
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	st := e.methods.oauthStates[id]
	if st == nil || !e.now().Before(st.expires) {
		e.mu.Unlock()
		return nil, invalid("unknown, used or expired OAuth state")
	}
	data := e.pageDataLocked(id, st)
	e.mu.Unlock()
	return renderOAuthPage(http.StatusOK, data)
}

// pageDataLocked prepares the provider page of the state id.
func (e *Emulator) pageDataLocked(id string, st *oauthState) oauthPageData {
	return oauthPageData{
		State:    id,
		Provider: st.provider,
		Redirect: st.redirectURL,
		Update:   st.kind == oauthUpdate,
		Hint:     st.loginHint,
		Accounts: slices.Clone(e.methods.accounts[st.provider]),
	}
}

// renderOAuthPage answers the provider page with status.
func renderOAuthPage(status int, data oauthPageData) (any, *apiError) {
	var buf bytes.Buffer
	if err := oauthPage.Execute(&buf, data); err != nil {
		return nil, internalError("rendering the provider page: " + err.Error())
	}
	return htmlAnswer{status: status, body: buf.Bytes()}, nil
}

// handleOAuthPageSubmit takes the provider page's answer: it spends the
// state and redirects to the authorization's redirectURL with a code, or
// with err when the tester denied or the authorization cannot succeed. A
// form with neither an email nor an account ID shows the page again.
func (e *Emulator) handleOAuthPageSubmit(c *call) (any, *apiError) {
	c.r.Body = http.MaxBytesReader(nil, c.r.Body, maxBody)
	if err := c.r.ParseForm(); err != nil {
		return nil, badRequest("reading the provider page's form: %v", err)
	}
	id := c.r.PostForm.Get("state")
	if id == "" {
		return nil, missingArg("state")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.methods.oauthStates[id]
	if st == nil {
		return nil, invalid("unknown or used OAuth state")
	}
	acct := trimAccount(st.provider, oauthAccount{
		Sub:      c.r.PostForm.Get("sub"),
		Email:    c.r.PostForm.Get("email"),
		Name:     c.r.PostForm.Get("name"),
		Verified: c.r.PostForm.Get("verified") != "",
	})
	now := e.now()
	allow := c.r.PostForm.Get("action") != "deny"
	if allow && now.Before(st.expires) && acct.Sub == "" {
		data := e.pageDataLocked(id, st)
		data.Problem = "Type an email or an account ID."
		return renderOAuthPage(http.StatusBadRequest, data)
	}
	delete(e.methods.oauthStates, id)
	switch {
	case !now.Before(st.expires):
		return redirectWith(st.redirectURL, "err", OAuthErrExpired), nil
	case !allow:
		return redirectWith(st.redirectURL, "err", OAuthErrDenied), nil
	}
	e.rememberAccountLocked(st.provider, acct)
	if plan := e.planOAuthLocked(st, &acct); plan.err != "" {
		return redirectWith(st.redirectURL, "err", plan.err), nil
	}
	code := newLinkToken()
	sweepExpired(e.methods.oauthCodes, now, func(oc *oauthCode) time.Time { return oc.expires })
	e.methods.oauthCodes[code] = &oauthCode{state: st, account: acct, expires: now.Add(OAuthCodeTTL)}
	return redirectWith(st.redirectURL, "code", code), nil
}

// rememberAccountLocked puts acct first among the accounts the provider's
// page offers.
func (e *Emulator) rememberAccountLocked(provider string, acct oauthAccount) {
	list := slices.DeleteFunc(e.methods.accounts[provider], func(a oauthAccount) bool { return a.Sub == acct.Sub })
	list = slices.Insert(list, 0, acct)
	if len(list) > maxRememberedAccounts {
		list = list[:maxRememberedAccounts]
	}
	e.methods.accounts[provider] = list
}

// redirectWith redirects to target with the query parameter name set to
// value. target was checked to be an absolute URL when the authorization
// started.
func redirectWith(target, name, value string) redirectAnswer {
	u, err := url.Parse(target)
	if err != nil {
		return redirectAnswer{location: target}
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return redirectAnswer{location: u.String()}
}
