package anonymous

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Conversion by social login (OAuth). [Middleware.StartOAuthConversion] asks
// Descope for an OAuth sign-up-or-in with the provider, for every strategy,
// and answers the URL of the provider's page, where the visitor picks the
// account. Descope then sends the browser to the callback page (on
// [WithOAuthRedirectURLs]) with ?state=…&code=…; the page POSTs both to
// [Middleware.ConvertOAuthFinishHandler] (or calls
// [Middleware.FinishOAuthConversion]), which exchanges the code.
//
// Never an update: OAuth's user update has no onMergeUseExisting, and when
// the provider account is already another user's, Descope may merge the
// two and delete one before the library could move any data
// (descope-api.md §11). A sign-up-or-in changes no account but the one it
// creates or signs in to.
//
// What the exchange signs in decides the ending. A user the sign-up created
// (Descope's firstSeen) is the visitor's new account: the OnConvert hook
// moves the data from the anonymous ID, and that user's tokens replace the
// anonymous ones, as after a native visitor's code. A user that existed
// already (the provider's email is a returning customer's login ID, linked
// by the provider's merge_user_accounts setting) is a returning customer:
// signed in to it, as by a code (OnConvert may move the data; the anonymous
// user is left to cull); with [WithMerge] the merge hook moves the data into
// it, and only afterwards is the anonymous user deleted; with
// [WithReturningCustomers](false) and no merge it is refused with
// [ErrIdentifierInUse] and its new tokens revoked.
//
// The code is bound to the visitor that started: the start records a
// random state (128 bits) with the pending conversion and puts it in the
// redirect URL, so it comes back with the code; finishing needs that
// visitor's pending OAuth conversion with the same state, under the
// conversion lock, once. A code an attacker obtained for their own account
// and had the victim's browser post carries another state, or finds no
// pending conversion, and is never exchanged.

// More sentinel errors, of social login.
var (
	// ErrInvalidOAuth means the OAuth code is wrong, expired or already
	// used, or the provider refused (the err parameter of the callback).
	ErrInvalidOAuth = errors.New("anonymous: invalid, expired or used OAuth code")
	// ErrOAuthURL means the callback page is not one of
	// [WithOAuthRedirectURLs] (or none is configured), or the provider
	// name is not one Descope could know.
	ErrOAuthURL = errors.New("anonymous: OAuth redirect URL or provider not allowed")
)

// methodOAuth is the method name of social login (StartOAuthConversion,
// FinishOAuthConversion).
const methodOAuth = "oauth"

// oauthStateBytes is the size of the random state: 128 bits.
const oauthStateBytes = 16

// WithOAuthRedirectURLs sets the callback pages social login may return
// to: absolute http or https URLs without a query or fragment, such as
// "https://shop.example.com/convert/oauth/callback". The library adds
// ?state=…, and Descope adds code (or err). [Middleware.StartOAuthConversion]
// takes only one of them (exactly; the first when it is given none). Each
// must also be an allowed redirect URL of the Descope project. Without it,
// social login answers [ErrOAuthURL].
func WithOAuthRedirectURLs(urls ...string) Option {
	return func(c *config) error {
		if len(urls) == 0 {
			return errors.New("anonymous: WithOAuthRedirectURLs needs at least one URL")
		}
		for _, s := range urls {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
				return fmt.Errorf("anonymous: OAuth redirect URL %q: want an absolute http(s) URL without query, fragment or user", s)
			}
		}
		c.oauthURLs = slices.Clone(urls)
		return nil
	}
}

// oauthURL returns the allowed callback page: the first of
// [WithOAuthRedirectURLs] when want is empty, else want if it is one of
// them.
func (m *Middleware) oauthURL(want string) (string, error) {
	switch {
	case len(m.cfg.oauthURLs) == 0:
		return "", fmt.Errorf("%w: no OAuth redirect URL is configured (WithOAuthRedirectURLs)", ErrOAuthURL)
	case want == "":
		return m.cfg.oauthURLs[0], nil
	case slices.Contains(m.cfg.oauthURLs, want):
		return want, nil
	}
	return "", ErrOAuthURL
}

// validProvider reports whether p can name an OAuth provider: 1 to 64
// letters, digits, '-' and '_' ("google", "github", a custom one).
func validProvider(p string) bool {
	return p != "" && len(p) <= 64 && !strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

// urlSafe reports whether s is 1 to 512 URL-safe characters: the form of
// an OAuth code and state.
func urlSafe(s string) bool {
	return s != "" && len(s) <= 512 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~=", r))
	})
}

// StartOAuthConversion starts the conversion of the anonymous visitor of r
// by social login with provider ("google", "github", …), and returns the
// URL to send the browser to. returnURL is the callback page, one of
// [WithOAuthRedirectURLs] exactly ("" for the first); the browser comes
// back to it with ?state=…&code=… for [Middleware.FinishOAuthConversion].
// The visitor proof and the limits are those of
// [Middleware.StartConversion]: a start counts as a code per visitor and
// as a start per visitor and per client, before Descope is asked anything
// ([ErrTooManyCodes]). A new start replaces the pending conversion: only
// the latest state finishes it, within the time a code lives.
func (m *Middleware) StartOAuthConversion(r *http.Request, provider, returnURL string) (_ string, err error) {
	ctx := withMethod(r.Context(), methodOAuth)
	m.convEvent(ctx, Event{Kind: EventConversionStarted})
	defer m.conversionFailed(ctx, &err)
	if !validProvider(provider) {
		return "", fmt.Errorf("%w: provider %q", ErrOAuthURL, provider)
	}
	returnURL, err = m.oauthURL(returnURL)
	if err != nil {
		return "", err
	}
	u, _, err := m.convertible(r, false)
	if err != nil {
		return "", err
	}
	ctx = context.WithoutCancel(ctx)
	// Every limit is counted before Descope is asked anything: no address
	// is known yet, so only the visitor's and the client's.
	release, err := m.takeConvSlots(ctx,
		convLimit{"code:u:", u.ID, maxCodesPerVisitor, ErrTooManyCodes, "codes per visitor", false},
		convLimit{"conv:s:u:", u.ID, maxStartsPerVisitor, ErrTooManyCodes, "conversion starts per visitor", true},
		convLimit{"", m.state.keys.keyFor("conv:s:c:", m.clientKey(r)), m.cfg.convClientMax, ErrTooManyCodes, "conversion starts per client", true},
	)
	if err != nil {
		return "", err
	}
	b := make([]byte, oauthStateBytes)
	if _, err := rand.Read(b); err != nil {
		release()
		return "", err
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	redirect := returnURL + "?" + url.Values{"state": {state}}.Encode()
	to, err := call(m, ctx, "oauth.sign_up_or_in", func(ctx context.Context) (string, error) {
		// No request and no writer: the SDK neither reads the visitor's
		// cookies nor redirects; the application navigates.
		return m.c.Auth.OAuth().SignUpOrIn(ctx, descope.OAuthProvider(provider), redirect, "", nil, nil, nil)
	})
	if err != nil {
		release()
		return "", m.oauthFailure("start social login", err)
	}
	if to == "" {
		release()
		return "", fmt.Errorf("anonymous: %w", descope.ErrUnexpectedResponse)
	}
	p := pendingConversion{Method: methodOAuth, Provider: provider, State: state}
	if err := m.setPending(ctx, u.ID, p); err != nil {
		return "", err
	}
	m.convEvent(ctx, Event{Kind: EventCodeSent})
	return to, nil
}

// FinishOAuthConversion finishes the conversion
// [Middleware.StartOAuthConversion] started for the visitor of r, with the
// code and state the callback page received. The state must be the one
// this visitor's start recorded, and the conversion finishes once: another
// visitor's code, a replayed code or an expired start gets
// [ErrNoPendingConversion] and nothing is exchanged. A code Descope refuses
// gets [ErrInvalidOAuth]. A new user converts (OnConvert from the
// anonymous ID); an existing account is signed in to (a returning
// customer), or with [WithMerge] merged, or with
// [WithReturningCustomers](false) refused with [ErrIdentifierInUse]. On success w carries the
// user's session and refresh cookies and the anonymous tokens are retired.
// Call it from a POST the callback page sends, never from the GET that
// opens the page.
func (m *Middleware) FinishOAuthConversion(w http.ResponseWriter, r *http.Request, code, state string) (*User, error) {
	code, state = strings.TrimSpace(code), strings.TrimSpace(state)
	var perr error
	if !urlSafe(code) || !urlSafe(state) {
		perr = ErrInvalidOAuth
	}
	return m.finishBound(w, r, methodOAuth, state, perr, func(ctx context.Context, anon *User, rt refreshToken, _ pendingConversion) (*User, error) {
		info, err := call(m, ctx, "oauth.exchange", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
			return m.c.Auth.OAuth().ExchangeToken(ctx, code, nil)
		})
		if err != nil {
			return nil, m.oauthFailure("exchange code", err)
		}
		if err := m.checkedPair(ctx, info); err != nil {
			return nil, err
		}
		return m.signedInAs(ctx, w, anon, rt, info)
	})
}

// oauthFailure maps Descope's answers on OAuth to sentinels: a refused
// authorization or code is ErrInvalidOAuth.
func (m *Middleware) oauthFailure(doing string, err error) error {
	switch {
	case descope.IsError(err, descope.ErrUserAlreadyExists.Code):
		return wrap(ErrIdentifierInUse, err)
	case statusOf(err) == http.StatusBadRequest:
		return wrap(ErrInvalidOAuth, err)
	}
	return m.descopeFailure(doing, err)
}
