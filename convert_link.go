package anonymous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Conversion by magic link. [Middleware.StartLinkConversion] has Descope send
// a link to the address: for a user-backed visitor an update of the user's
// email or phone (addToLoginIDs and onMergeUseExisting, as the one-time code
// update), for a native or local visitor, and for the existing account of a
// merge, a sign-up-or-in link. The link opens the application's landing page
// (on [WithLinkURLs]) with ?t=<token>; the page POSTs the token to
// [Middleware.ConvertLinkVerifyHandler] (or calls
// [Middleware.FinishLinkConversion]), and the conversion ends as a code's
// does.
//
// The link is bound to the visitor that asked for it: finishing needs that
// visitor's pending link conversion (under the conversion lock), and the
// identity the token verifies must hold the pending address, verified, and
// be the user the pending conversion expects. A link the attacker had sent
// to their own address and then opened in a victim's browser (login CSRF)
// finds no such conversion, or verifies another address, and converts
// nothing. Opening the link is a navigation from the mail client, so it
// finishes nothing by itself: a GET that converted would be a cross-site
// request forgery target, and its cookies may be absent (SameSite=Strict).

// More sentinel errors, of magic links and of [Middleware.CompleteConversion].
var (
	// ErrInvalidLink means the magic link token is wrong, expired or
	// already used.
	ErrInvalidLink = errors.New("anonymous: invalid, expired or used link")
	// ErrLinkURL means the page a magic link should open is not one of
	// [WithLinkURLs] (or none is configured).
	ErrLinkURL = errors.New("anonymous: link URL not allowed")
	// ErrNothingVerified means [Middleware.CompleteConversion] found no
	// verified email or phone login ID on the user besides the generated
	// one: nothing was added, or it is not verified yet.
	ErrNothingVerified = errors.New("anonymous: no verified email or phone was added")
	// ErrNotUserBacked means the operation needs a user-backed visitor
	// (native and local visitors have no user to add an identifier to).
	ErrNotUserBacked = errors.New("anonymous: visitor is not user-backed")
)

// WithLinkURLs sets the pages a conversion magic link may open: absolute
// http or https URLs without a query or fragment, such as
// "https://shop.example.com/convert/landing". Descope appends ?t=<token>.
// [Middleware.StartLinkConversion] takes only one of them (the first when it
// is given none), so that no request can have Descope mail a link to a page
// of someone else's. Each page's host must also be an approved domain of the
// Descope project. Without it, magic link conversion answers [ErrLinkURL].
func WithLinkURLs(urls ...string) Option {
	return func(c *config) error {
		if len(urls) == 0 {
			return errors.New("anonymous: WithLinkURLs needs at least one URL")
		}
		for _, s := range urls {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return fmt.Errorf("anonymous: link URL %q: want an absolute http(s) URL without query, fragment or user", s)
			}
		}
		c.linkURLs = slices.Clone(urls)
		return nil
	}
}

// linkURL returns the allowed page a link opens: the first of
// [WithLinkURLs] when want is empty, else want if it is one of them.
func (m *Middleware) linkURL(want string) (string, error) {
	switch {
	case len(m.cfg.linkURLs) == 0:
		return "", fmt.Errorf("%w: no link URL is configured (WithLinkURLs)", ErrLinkURL)
	case want == "":
		return m.cfg.linkURLs[0], nil
	case slices.Contains(m.cfg.linkURLs, want):
		return want, nil
	}
	return "", ErrLinkURL
}

// StartLinkConversion sends a magic link to addr (an email address or an
// E.164 phone number) for the anonymous user of r, and returns the masked
// address Descope reports. The link opens linkURL, which must be one of
// [WithLinkURLs] ("" for the first), with ?t=<token>; that page hands the
// token to [Middleware.FinishLinkConversion]. Everything else is as for
// [Middleware.StartConversion]: the same visitor proof, the same owner
// check (ErrIdentifierInUse, or a sign-in link to the existing account with
// [WithMerge]), and the same limits: a link counts as a code per visitor,
// per address and per client ([ErrTooManyCodes]). A new start replaces the
// pending conversion: only the latest link finishes it.
func (m *Middleware) StartLinkConversion(r *http.Request, addr, linkURL string) (string, error) {
	a, err := parseAddress(addr)
	if err == nil {
		linkURL, err = m.linkURL(linkURL)
	}
	return m.start(r, a, err, linkMethod{uri: linkURL})
}

// FinishLinkConversion finishes the conversion [Middleware.StartLinkConversion]
// started for the visitor of r, with the token of the link (the t query
// parameter of the page it opened). The token must verify the pending
// address, for the user the conversion expects; a token of another visitor's
// link gets [ErrNoPendingConversion] and converts nothing (when Descope
// already spent it, its tokens are revoked). A wrong, expired or used token
// gets [ErrInvalidLink]. On success w carries a fresh session and refresh
// cookie pair, exactly as after [Middleware.FinishConversion], whose notes
// on resuming, retiring the anonymous refresh tokens and the limits apply.
// Call it from a POST the landing page sends, never from the GET that opens
// the link.
func (m *Middleware) FinishLinkConversion(w http.ResponseWriter, r *http.Request, token string) (*User, error) {
	return m.finish(w, r, nil, nil, linkMethod{}, token)
}

// linkMethod is conversion by magic link; uri is the page the link opens
// (set for send).
type linkMethod struct{ uri string }

func (linkMethod) kind() string { return methodLink }

// send asks Descope to send the link: an update of the user's email or
// phone for a user-backed visitor, a sign-up-or-in link otherwise.
func (l linkMethod) send(ctx context.Context, m *Middleware, u *User, dsr string, a address, p pendingConversion) (string, error) {
	if isNative(u) || isLocal(u) || p.ExistingID != "" {
		masked, err := call(m, ctx, "magiclink.sign_up_or_in", func(ctx context.Context) (string, error) {
			return m.c.Auth.MagicLink().SignUpOrIn(ctx, a.method(), a.value, l.uri, nil)
		})
		if err != nil {
			return "", m.linkFailure("send link", err)
		}
		return masked, nil
	}
	loginID := p.LoginID
	// The same options as the code's update (otpMethod.send): the magic
	// link update takes the same UpdateOptions (descope-api.md §11).
	opts := &descope.UpdateOptions{AddToLoginIDs: true, OnMergeUseExisting: true}
	op := "magiclink.update_email"
	if a.phone {
		op = "magiclink.update_phone"
	}
	masked, err := call(m, ctx, op, func(ctx context.Context) (string, error) {
		sr, err := m.sdkRequest(ctx, dsr)
		if err != nil {
			return "", err
		}
		if a.phone {
			return m.c.Auth.MagicLink().UpdateUserPhone(ctx, descope.MethodSMS, loginID, a.value, l.uri, opts, sr)
		}
		return m.c.Auth.MagicLink().UpdateUserEmail(ctx, loginID, a.value, l.uri, opts, sr)
	})
	if err != nil {
		return "", m.linkFailure("send link", err)
	}
	return masked, nil
}

// clean trims a link token and refuses an empty, oversized or
// non-URL-safe one.
func (linkMethod) clean(token string) (string, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 || strings.ContainsFunc(token, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~=", r))
	}) {
		return "", ErrInvalidLink
	}
	return token, nil
}

// verify spends the token at Descope. It gives the SDK no writer: the
// middleware writes its own cookies, and only once the token is bound.
func (linkMethod) verify(ctx context.Context, m *Middleware, _ address, _, token string) (*descope.AuthenticationInfo, error) {
	info, err := call(m, ctx, "magiclink.verify", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return m.c.Auth.MagicLink().Verify(ctx, token, nil)
	})
	if err != nil {
		return nil, m.linkFailure("verify link", err)
	}
	if err := m.checkPair(info); err != nil {
		if info != nil && info.RefreshToken != nil {
			m.revoke(ctx, info.RefreshToken.JWT)
		}
		return nil, err
	}
	m.convEvent(ctx, Event{Kind: EventCodeVerified})
	return info, nil
}

// bind checks that the token verified the pending address for the
// expected user: a link proves only what its token names, which need not
// be what this visitor asked for.
func (linkMethod) bind(info *descope.AuthenticationInfo, a address, wantID, loginID string) error {
	if info.User == nil || !ownsVerified(info.User, a) {
		return fmt.Errorf("%w: the link verified another address", ErrNoPendingConversion)
	}
	if wantID != "" && info.SessionToken.ID != wantID && !slices.Contains(info.User.LoginIDs, loginID) {
		// Neither the expected user nor one Descope merged it into.
		return fmt.Errorf("%w: the link signed in another user", ErrNoPendingConversion)
	}
	return nil
}

// linkFailure maps Descope's answers on magic links to sentinels.
func (m *Middleware) linkFailure(doing string, err error) error {
	if descope.IsError(err, descope.ErrInvalidOneTimeCode.Code) {
		return wrap(ErrInvalidLink, err)
	}
	return m.codeFailure(doing, err)
}
