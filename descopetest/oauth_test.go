package descopetest_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"
)

const callback = "https://app.example.com/oauth/callback"

// account is what a test types on the provider page.
type account struct {
	email, name, sub string
	unverified       bool
}

// providerPage fetches the page that an authorize call's url points to, as
// a browser does, and returns its HTML.
func providerPage(t *testing.T, pageURL string) string {
	t.Helper()
	res, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("provider page: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	return string(body)
}

// submitPage posts the provider page's form for pageURL, as a browser
// does when the tester clicks action ("allow" or "deny"), and returns the
// query of the redirect to the callback.
func submitPage(t *testing.T, pageURL string, acct account, action string) url.Values {
	t.Helper()
	page, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{
		"state": {page.Query().Get("state")}, "action": {action},
		"email": {acct.email}, "name": {acct.name}, "sub": {acct.sub},
	}
	if !acct.unverified {
		form.Set("verified", "on")
	}
	// The form posts to "authorize", relative to the page.
	target := page.ResolveReference(&url.URL{Path: "authorize"})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.PostForm(target.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("submitting the provider page: %d %s", res.StatusCode, body)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("redirect to %q, want %s?...", res.Header.Get("Location"), callback)
	}
	return loc.Query()
}

// oauthSignIn runs a whole sign-up-or-in with the account over HTTP: the
// authorize call, the page, its form and the exchange of the code.
func oauthSignIn(t *testing.T, sdk *client.DescopeClient, ctx context.Context, acct account) *descope.AuthenticationInfo {
	t.Helper()
	pageURL := must[string](t)(sdk.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	providerPage(t, pageURL)
	q := submitPage(t, pageURL, acct, "allow")
	if q.Get("code") == "" {
		t.Fatalf("redirect without a code: %v", q)
	}
	return must[*descope.AuthenticationInfo](t)(sdk.Auth.OAuth().ExchangeToken(ctx, q.Get("code"), nil))
}

func TestOAuthSignUpOrInOverHTTP(t *testing.T) {
	emu, sdk, ctx := setup(t)
	pageURL := must[string](t)(sdk.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthGoogle, callback, "ada@example.com", nil, nil, nil))
	if !strings.HasPrefix(pageURL, emu.URL+"/emulator/v1/oauth/authorize?state=") {
		t.Fatalf("url = %q", pageURL)
	}
	html := providerPage(t, pageURL)
	if !strings.Contains(html, `value="ada@example.com"`) || !strings.Contains(html, callback) {
		t.Fatalf("the page does not offer the login hint or name the callback:\n%s", html)
	}
	q := submitPage(t, pageURL, account{email: "ada@example.com", name: "Ada"}, "allow")
	code := q.Get("code")
	if code == "" || q.Get("err") != "" {
		t.Fatalf("redirect query = %v", q)
	}
	// The page is spent.
	res, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a spent page answers %d", res.StatusCode)
	}

	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OAuth().ExchangeToken(ctx, code, nil))
	u := info.User
	if !info.FirstSeen || u.Email != "ada@example.com" || !u.VerifiedEmail || u.Name != "Ada" ||
		len(u.LoginIDs) != 1 || u.LoginIDs[0] != "ada@example.com" || !u.OAuth["google"] {
		t.Fatalf("user = %+v", u)
	}
	if info.RefreshToken == nil || info.RefreshToken.JWT == "" {
		t.Fatal("the exchange answered no refresh token")
	}
	if amr := toStrings(info.SessionToken.Claims["amr"]); len(amr) != 1 || amr[0] != "oauth" {
		t.Fatalf("amr = %v", amr)
	}
	// The code is single use.
	_, err = sdk.Auth.OAuth().ExchangeToken(ctx, code, nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)

	// The same provider account signs the same user in, and the page now
	// offers it to choose.
	pageURL = must[string](t)(sdk.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	if html := providerPage(t, pageURL); !strings.Contains(html, `id="account-0"`) || !strings.Contains(html, "ada@example.com") {
		t.Fatalf("the page does not offer the account used before:\n%s", html)
	}
	q = submitPage(t, pageURL, account{email: "ada@example.com", name: "Ada"}, "allow")
	again := must[*descope.AuthenticationInfo](t)(sdk.Auth.OAuth().ExchangeToken(ctx, q.Get("code"), nil))
	if again.FirstSeen || again.User.UserID != u.UserID {
		t.Fatalf("second sign-in = %+v", again)
	}

	// Deny.
	pageURL = must[string](t)(sdk.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	if q := submitPage(t, pageURL, account{}, "deny"); q.Get("err") != descopetest.OAuthErrDenied || q.Get("code") != "" {
		t.Fatalf("deny redirected with %v", q)
	}
}

func TestOAuthRefusals(t *testing.T) {
	emu, sdk, ctx := setup(t)
	oauth := sdk.Auth.OAuth()
	_, err := oauth.SignUpOrIn(ctx, "myspace", callback, "", nil, nil, nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)
	_, err = oauth.SignUpOrIn(ctx, descope.OAuthGoogle, "", "", nil, nil, nil)
	wantCode(t, err, "E011002", http.StatusBadRequest)
	_, err = oauth.SignUpOrIn(ctx, descope.OAuthGoogle, "/relative", "", nil, nil, nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)
	_, err = oauth.ExchangeToken(ctx, "forged", nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)

	// Sign-in needs a user, sign-up needs none.
	pageURL := must[string](t)(oauth.SignIn(ctx, descope.OAuthGithub, callback, "", nil, nil, nil))
	if q := submitPage(t, pageURL, account{email: "new@example.com"}, "allow"); q.Get("err") != descopetest.OAuthErrUserNotFound {
		t.Fatalf("sign-in of nobody: %v", q)
	}
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "old@example.com", &descope.UserRequest{User: descope.User{Email: "old@example.com"}}))
	pageURL = must[string](t)(oauth.SignUp(ctx, descope.OAuthGithub, callback, "", nil, nil, nil))
	if q := submitPage(t, pageURL, account{email: "old@example.com"}, "allow"); q.Get("err") != descopetest.OAuthErrUserExists {
		t.Fatalf("sign-up of an existing user: %v", q)
	}

	// A form with neither email nor account ID shows the page again.
	pageURL = must[string](t)(oauth.SignUpOrIn(ctx, descope.OAuthGoogle, callback, `"><script>alert(1)</script>`, nil, nil, nil))
	if html := providerPage(t, pageURL); strings.Contains(html, "<script>alert") {
		t.Fatal("the login hint is not escaped on the page")
	}
	page, _ := url.Parse(pageURL)
	res, err := http.PostForm(emu.URL+"/emulator/v1/oauth/authorize", url.Values{"state": {page.Query().Get("state")}, "action": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `id="problem"`) {
		t.Fatalf("empty form: %d %s", res.StatusCode, body)
	}
	// ... and the page still works.
	if q := submitPage(t, pageURL, account{sub: "12345"}, "allow"); q.Get("code") == "" {
		t.Fatalf("after the empty form: %v", q)
	}
}

func TestOAuthExpiry(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	_, sdk, ctx := setup(t, descopetest.WithClock(clk.Now))
	oauth := sdk.Auth.OAuth()
	pageURL := must[string](t)(oauth.SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	clk.Add(descopetest.OAuthCodeTTL)
	if q := submitPage(t, pageURL, account{email: "a@example.com"}, "allow"); q.Get("err") != descopetest.OAuthErrExpired {
		t.Fatalf("late submit: %v", q)
	}
	pageURL = must[string](t)(oauth.SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	code := submitPage(t, pageURL, account{email: "a@example.com"}, "allow").Get("code")
	clk.Add(descopetest.OAuthCodeTTL)
	_, err := oauth.ExchangeToken(ctx, code, nil)
	wantCode(t, err, "E011003", http.StatusBadRequest)
}

// TestOAuthMergeUserAccounts: with merge_user_accounts on (the default), a
// provider account whose email is a user's login ID signs that user in;
// with it off, the sign-in is refused.
func TestOAuthMergeUserAccounts(t *testing.T) {
	_, sdk, ctx := setup(t)
	existing := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "ada@example.com", &descope.UserRequest{}))
	info := oauthSignIn(t, sdk, ctx, account{email: "Ada@Example.com", name: "Ada"})
	if info.FirstSeen || info.User.UserID != existing.UserID || !info.User.OAuth["google"] || !info.User.VerifiedEmail {
		t.Fatalf("merged sign-in = %+v", info.User)
	}

	_, sdk, ctx = setup(t, descopetest.WithOAuthProvider("google", false))
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "ada@example.com", &descope.UserRequest{}))
	pageURL := must[string](t)(sdk.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthGoogle, callback, "", nil, nil, nil))
	if q := submitPage(t, pageURL, account{email: "ada@example.com"}, "allow"); q.Get("err") != descopetest.OAuthErrUserExists {
		t.Fatalf("sign-in without merging: %v", q)
	}
}

// oauthUpdate runs an authorize/update for the holder of refresh and
// returns the redirect's query.
func oauthUpdate(t *testing.T, sdk *client.DescopeClient, ctx context.Context, loginID, refresh string, allowAllMerge bool, acct account) url.Values {
	t.Helper()
	pageURL := must[string](t)(sdk.Auth.OAuth().UpdateUser(ctx, descope.OAuthGoogle, callback, "", allowAllMerge, withRefresh(refresh), nil, nil))
	if html := providerPage(t, pageURL); !strings.Contains(html, "linked to the signed-in user") {
		t.Fatalf("the update page does not say it links:\n%s", html)
	}
	return submitPage(t, pageURL, acct, "allow")
}

func TestOAuthUpdate(t *testing.T) {
	emu, sdk, ctx := setup(t)
	visitor := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "visitor-1", &descope.UserRequest{}))
	_, refresh := signIn(t, sdk, ctx, "visitor-1")

	// No common identifier and no allowAllMerge: refused.
	q := oauthUpdate(t, sdk, ctx, "visitor-1", refresh, false, account{email: "ada@example.com"})
	if q.Get("err") != descopetest.OAuthErrNoCommonIdentifier {
		t.Fatalf("update without a common identifier: %v", q)
	}
	// With allowAllMerge the account is linked to the same user.
	q = oauthUpdate(t, sdk, ctx, "visitor-1", refresh, true, account{email: "ada@example.com", name: "Ada"})
	info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OAuth().ExchangeToken(ctx, q.Get("code"), nil))
	u := info.User
	if u.UserID != visitor.UserID || info.FirstSeen || !u.OAuth["google"] || u.Email != "ada@example.com" || !u.VerifiedEmail {
		t.Fatalf("updated user = %+v", u)
	}
	// The email is not made a login ID: the update has no addToLoginIDs.
	if len(u.LoginIDs) != 1 || u.LoginIDs[0] != "visitor-1" {
		t.Fatalf("login IDs = %v", u.LoginIDs)
	}
	// Now the email is a common identifier, and the account signs the
	// user in.
	q = oauthUpdate(t, sdk, ctx, "visitor-1", refresh, false, account{email: "ada@example.com", name: "Ada"})
	if q.Get("code") == "" {
		t.Fatalf("update with a common identifier: %v", q)
	}
	if again := oauthSignIn(t, sdk, ctx, account{email: "ada@example.com"}); again.User.UserID != visitor.UserID {
		t.Fatalf("sign-in with the linked account = %s", again.User.UserID)
	}

	// A logged-out session cannot finish an update it started.
	pageURL := must[string](t)(sdk.Auth.OAuth().UpdateUser(ctx, descope.OAuthGithub, callback, "", true, withRefresh(refresh), nil, nil))
	check(t, sdk.Auth.LogoutWithToken(refresh, nil))
	if q := submitPage(t, pageURL, account{email: "x@example.com"}, "allow"); q.Get("err") != descopetest.OAuthErrSessionEnded {
		t.Fatalf("update after logout: %v", q)
	}
	if emu.UserCount() != 1 {
		t.Fatalf("users = %d", emu.UserCount())
	}
}

// TestOAuthUpdateConflict runs an update onto another user's email in
// every OAuthConflict mode.
func TestOAuthUpdateConflict(t *testing.T) {
	for _, mode := range descopetest.OAuthConflicts {
		t.Run(string(mode), func(t *testing.T) {
			var opts []descopetest.Option
			if mode != descopetest.OAuthConflicts[0] {
				opts = append(opts, descopetest.WithOAuthUpdateConflict(mode))
			}
			emu, sdk, ctx := setup(t, opts...)
			owner := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "taken@example.com", &descope.UserRequest{User: descope.User{Email: "taken@example.com"}}))
			visitor := must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "visitor-1", &descope.UserRequest{}))
			_, ownerDSR := signIn(t, sdk, ctx, "taken@example.com")
			_, visitorDSR := signIn(t, sdk, ctx, "visitor-1")

			q := oauthUpdate(t, sdk, ctx, "visitor-1", visitorDSR, true, account{email: "taken@example.com"})
			if mode == descopetest.OAuthConflictError {
				if q.Get("err") != descopetest.OAuthErrMergeConflict || emu.UserCount() != 2 {
					t.Fatalf("redirect %v, %d users", q, emu.UserCount())
				}
				return
			}
			info := must[*descope.AuthenticationInfo](t)(sdk.Auth.OAuth().ExchangeToken(ctx, q.Get("code"), nil))
			got := info.User
			switch mode {
			case descopetest.OAuthConflictReturnExisting:
				if got.UserID != owner.UserID || emu.UserCount() != 1 || !got.OAuth["google"] {
					t.Fatalf("got %+v, %d users", got, emu.UserCount())
				}
				wantLoggedOut(t, sdk, ctx, visitorDSR)
			case descopetest.OAuthConflictMergeIntoCurrent:
				if got.UserID != visitor.UserID || emu.UserCount() != 1 || len(got.LoginIDs) != 2 {
					t.Fatalf("got %+v, %d users", got, emu.UserCount())
				}
				wantLoggedOut(t, sdk, ctx, ownerDSR)
			case descopetest.OAuthConflictLinkToCurrent:
				o, _ := emu.User(owner.UserID)
				if got.UserID != visitor.UserID || emu.UserCount() != 2 || len(o.LoginIDs) != 1 || got.Email != "taken@example.com" {
					t.Fatalf("got %+v, owner %+v", got, o)
				}
				// The account now signs the visitor in, not the owner.
				if again := oauthSignIn(t, sdk, ctx, account{email: "taken@example.com"}); again.User.UserID != visitor.UserID {
					t.Fatalf("sign-in after linking = %s", again.User.UserID)
				}
			}
		})
	}
}

// TestOAuthThroughAnApp runs social login as a browser meets it: an app's
// login handler redirects (go-sdk writes the 307) to the provider page, the
// page's form redirects to the app's callback, whose handler exchanges the
// code and sets the session cookies; the client follows every redirect.
func TestOAuthThroughAnApp(t *testing.T) {
	_, sdk, ctx := setup(t)
	mux := http.NewServeMux()
	app := newServer(mux)
	t.Cleanup(app.Close)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := sdk.Auth.OAuth().SignUpOrIn(r.Context(), descope.OAuthGitlab, app.URL+"/callback", "", r, nil, w); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		if e := r.URL.Query().Get("err"); e != "" {
			http.Error(w, e, http.StatusForbidden)
			return
		}
		info, err := sdk.Auth.OAuth().ExchangeToken(r.Context(), r.URL.Query().Get("code"), w)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, info.User.UserID)
	})

	browser := &http.Client{}
	res, err := browser.Get(app.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(html), "Sign in with gitlab") {
		t.Fatalf("after /login: %d %s", res.StatusCode, html)
	}
	pageURL := res.Request.URL // where the redirect led
	form := url.Values{"state": {pageURL.Query().Get("state")}, "action": {"allow"}, "email": {"grace@example.com"}, "verified": {"on"}}
	res, err = browser.PostForm(pageURL.ResolveReference(&url.URL{Path: "authorize"}).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/callback" {
		t.Fatalf("after the form: %d at %s: %s", res.StatusCode, res.Request.URL, body)
	}
	var dsr *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == descope.RefreshCookieName {
			dsr = c
		}
	}
	if dsr == nil {
		t.Fatalf("the callback set no %s cookie", descope.RefreshCookieName)
	}
	ok, token, err := sdk.Auth.ValidateAndRefreshSessionWithTokens(ctx, "", dsr.Value)
	if !ok || err != nil || token.ID != string(body) {
		t.Fatalf("the app's session: %v %v %+v, user %s", ok, err, token, body)
	}
}
