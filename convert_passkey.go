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

// Conversion by passkey (WebAuthn). [Middleware.StartPasskeyConversion]
// takes a name the visitor chose and answers Descope's WebAuthn options,
// which the page hands to navigator.credentials.create (Create true) or
// get (Create false); [Middleware.FinishPasskeyConversion] (or
// [Middleware.ConvertPasskeyFinishHandler]) takes the browser's answer.
//
// A passkey account needs a login ID the visitor can name when it signs in
// again (go-sdk's passkey sign-in refuses an empty one): the name. It is a
// name, never an address: 3 to 64 letters, digits, '.', '_' and '-',
// folded to lower case, with no '@', not a phone number (a leading '+', or
// digits and separators only) and not a generated login ID
// ([WithLoginIDGenerator]). Were it an email address or a phone number that
// nobody verified, a visitor could claim someone else's address as the
// login ID of its passkey account and so be waiting in that person's
// account when they later sign in by one-time code or magic link to the
// same login ID (account pre-hijacking); a name that can never be an
// address can never collide with an identifier someone proved.
//
// The ceremonies, by strategy:
//
//   - user-backed, a name nobody holds: a passkey is added to the visitor's
//     own user (update, under its generated login ID, with the visitor's
//     refresh token), then the generated login ID is renamed to the name
//     and the conversion completes as a code's does: the same user ID,
//     out of the anonymous tenant, fresh tokens.
//   - user-backed, the visitor's own user holds a passkey already (a
//     conversion that registered it and failed half-way): it signs in with
//     that passkey, and the conversion completes.
//   - native and local: a sign-up-or-in; a new name signs up (a new user:
//     OnConvert moves the data from the anonymous ID).
//   - a name another account holds, in any strategy: a sign-in with that
//     account's passkey, a returning customer, which ends as by a code
//     ([WithReturningCustomers], [WithMerge]); with
//     WithReturningCustomers(false) and no WithMerge it is refused with
//     [ErrIdentifierInUse] before any ceremony (user-backed) or right after
//     Descope said so (native and local). The account is never changed.
//
// The start's answer says whether the name has a passkey (Create false):
// the browser must know whether to create or get one. A name is a public
// handle, so this reveals no address.
//
// The answer is bound to the visitor that started: the finish needs that
// visitor's pending passkey conversion with the same transaction ID, under
// the conversion lock, once (finishBound). A transaction an attacker
// started and answered with their own passkey, posted from the victim's
// browser, finds no such conversion and is never sent to Descope.

// More sentinel errors, of passkeys.
var (
	// ErrPasskeyOrigin means the request's Origin is not one of
	// [WithPasskeyOrigins] (or none is configured).
	ErrPasskeyOrigin = errors.New("anonymous: passkey origin not allowed")
	// ErrInvalidPasskey means Descope refused the browser's passkey answer:
	// a credential of another challenge or another site, an unknown one,
	// or a transaction that expired or was used.
	ErrInvalidPasskey = errors.New("anonymous: passkey refused")
	// ErrInvalidName means the name of a passkey account breaks its rule:
	// 3 to 64 letters, digits, '.', '_' or '-', and neither an email
	// address, a phone number nor a generated login ID.
	ErrInvalidName = errors.New("anonymous: invalid name: use 3 to 64 letters, digits, '.', '_' or '-', not an email address or phone number")
)

// methodPasskey is the method name of passkeys (StartPasskeyConversion,
// FinishPasskeyConversion).
const methodPasskey = "passkey"

// The ceremonies of a passkey conversion, as the pending conversion notes
// them: which finish call the transaction needs.
const (
	ceremonyUpdate = "update"  // user-backed: a passkey for the visitor's own user
	ceremonyResume = "resume"  // user-backed: the visitor's own user signs in with its passkey
	ceremonySignUp = "sign-up" // native and local: a new user with the name
	ceremonySignIn = "sign-in" // the existing account that holds the name
)

const (
	// minNameLen and maxNameLen bound a name, in bytes (ASCII only).
	minNameLen, maxNameLen = 3, 64
	// maxPasskeyResponse bounds the browser's answer: a registration with
	// attestation "none" is about 1 KiB, one with a certificate chain a
	// few.
	maxPasskeyResponse = 32 << 10
	// maxTransactionID bounds a WebAuthn transaction ID.
	maxTransactionID = 512
)

// PasskeyChallenge is the answer of [Middleware.StartPasskeyConversion].
type PasskeyChallenge struct {
	// TransactionID names the ceremony; the finish brings it back.
	TransactionID string `json:"transactionId"`
	// Options is Descope's WebAuthn options JSON ({"publicKey": …}, binary
	// members in base64url), for navigator.credentials.create or get.
	Options string `json:"options"`
	// Create is true when the browser must create a passkey, false when it
	// signs in with one (a returning customer, or a conversion that
	// registered its passkey and failed half-way).
	Create bool `json:"create"`
}

// WithPasskeyOrigins sets the origins whose pages may convert by passkey:
// absolute http or https origins, "scheme://host[:port]" exactly as
// browsers send them in the Origin header (lower case, no path, no
// default port), such as "https://shop.example.com". Each must be an
// allowed origin of the Descope project's passkey settings (its relying
// party is the site's domain). [Middleware.StartPasskeyConversion] takes
// the request's Origin, which must be one of them: it is the origin
// Descope checks the browser's answer against. Without it, passkey
// conversion answers [ErrPasskeyOrigin].
func WithPasskeyOrigins(origins ...string) Option {
	return func(c *config) error {
		if len(origins) == 0 {
			return errors.New("anonymous: WithPasskeyOrigins needs at least one origin")
		}
		for _, o := range origins {
			if err := checkPasskeyOrigin(o); err != nil {
				return err
			}
		}
		c.passkeyOrigins = slices.Clone(origins)
		return nil
	}
}

// checkPasskeyOrigin refuses an origin that is not http(s)://host[:port]
// as a browser's Origin header spells it.
func checkPasskeyOrigin(o string) error {
	u, err := url.Parse(o)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(o, ":"):
		return fmt.Errorf("anonymous: passkey origin %q: want http(s)://host[:port]", o)
	case strings.ToLower(o) != o:
		return fmt.Errorf("anonymous: passkey origin %q: browsers send it in lower case", o)
	case u.Port() == "443" && u.Scheme == "https", u.Port() == "80" && u.Scheme == "http":
		return fmt.Errorf("anonymous: passkey origin %q: browsers send it without the default port", o)
	}
	return nil
}

// passkeyOrigin returns the Origin of r if it is one of
// [WithPasskeyOrigins].
func (m *Middleware) passkeyOrigin(r *http.Request) (string, error) {
	if len(m.cfg.passkeyOrigins) == 0 {
		return "", fmt.Errorf("%w: no passkey origin is configured (WithPasskeyOrigins)", ErrPasskeyOrigin)
	}
	vals := r.Header.Values("Origin")
	if len(vals) != 1 || !slices.Contains(m.cfg.passkeyOrigins, vals[0]) {
		return "", ErrPasskeyOrigin
	}
	return vals[0], nil
}

// cleanName checks a passkey account's name and folds it to lower case.
func cleanName(name string, isGenerated func(string) bool) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case strings.Contains(name, "@"):
		return "", fmt.Errorf("%w (a name, not an email address)", ErrInvalidName)
	case strings.HasPrefix(name, "+"):
		return "", fmt.Errorf("%w (a name, not a phone number)", ErrInvalidName)
	case len(name) < minNameLen || len(name) > maxNameLen:
		return "", fmt.Errorf("%w (%d to %d characters)", ErrInvalidName, minNameLen, maxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}):
		return "", fmt.Errorf("%w (only letters a-z, digits, '.', '_' and '-')", ErrInvalidName)
	case !strings.ContainsFunc(name, func(r rune) bool { return r >= 'a' && r <= 'z' }):
		// Digits and separators only: a phone number, however written.
		return "", fmt.Errorf("%w (a name, not a phone number: use a letter)", ErrInvalidName)
	case isGenerated(name):
		return "", fmt.Errorf("%w (a name, not a generated login ID)", ErrInvalidName)
	}
	return name, nil
}

// StartPasskeyConversion starts the conversion of the anonymous visitor of
// r by passkey, for the account name (see the rule at [ErrInvalidName];
// it is folded to lower case), and returns the options for the browser.
// r's Origin header must be one of [WithPasskeyOrigins]. When the answer
// says Create, the page calls navigator.credentials.create with the
// options, else navigator.credentials.get, and posts the credential, as
// Descope's JS SDKs encode it, to [Middleware.FinishPasskeyConversion]
// with the transaction ID.
//
// The visitor proof and the limits are those of
// [Middleware.StartOAuthConversion]: a start counts as a code per visitor
// and as a start per visitor and per client, before Descope is asked
// anything ([ErrTooManyCodes]); the name and the origin are checked before
// that. A user-backed visitor's start asks Descope at most three things
// (who holds the name, the visitor's profile, the ceremony's start), a
// native or local visitor's one (a sign-up-or-in start). A name another
// account holds starts a sign-in with that account's passkey, or, with
// [WithReturningCustomers](false) and no [WithMerge], gets
// [ErrIdentifierInUse]. A new start replaces the pending conversion: only
// the latest transaction finishes it, within the time a code lives.
func (m *Middleware) StartPasskeyConversion(r *http.Request, name string) (_ *PasskeyChallenge, err error) {
	ctx := withMethod(r.Context(), methodPasskey)
	m.convEvent(ctx, Event{Kind: EventConversionStarted})
	defer m.conversionFailed(ctx, &err)
	name, err = cleanName(name, m.cfg.isGenerated)
	if err != nil {
		return nil, err
	}
	origin, err := m.passkeyOrigin(r)
	if err != nil {
		return nil, err
	}
	u, rt, err := m.convertible(r, false)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	// Every limit is counted before Descope is asked anything, as for a
	// social login: no address is known, only the visitor and the client.
	release, err := m.takeConvSlots(ctx,
		convLimit{"code:u:", u.ID, maxCodesPerVisitor, ErrTooManyCodes, "codes per visitor", false},
		convLimit{"conv:s:u:", u.ID, maxStartsPerVisitor, ErrTooManyCodes, "conversion starts per visitor", true},
		convLimit{"", m.state.keys.keyFor("conv:s:c:", m.clientKey(r)), m.cfg.convClientMax, ErrTooManyCodes, "conversion starts per client", true},
	)
	if err != nil {
		return nil, err
	}
	p := pendingConversion{Method: methodPasskey, Name: name}
	var res *descope.WebAuthnTransactionResponse
	if isNative(u) || isLocal(u) {
		res, err = m.passkeySignUpOrIn(ctx, name, origin, &p)
	} else {
		res, err = m.passkeyUserBacked(ctx, u, rt.jwt, name, origin, &p)
	}
	if err == nil && (res == nil || res.TransactionID == "" || len(res.TransactionID) > maxTransactionID || res.Options == "") {
		err = fmt.Errorf("anonymous: %w", descope.ErrUnexpectedResponse)
	}
	if err != nil {
		release()
		return nil, err
	}
	p.Transaction = res.TransactionID
	if err := m.setPending(ctx, u.ID, p); err != nil {
		return nil, err
	}
	m.convEvent(ctx, Event{Kind: EventCodeSent})
	create := p.Ceremony == ceremonyUpdate || p.Ceremony == ceremonySignUp
	return &PasskeyChallenge{TransactionID: res.TransactionID, Options: res.Options, Create: create}, nil
}

// passkeySignUpOrIn starts the ceremony of a native or local visitor: a
// sign-up-or-in, whose answer says whether the name is new (a sign-up) or
// has a passkey (a sign-in to that account).
func (m *Middleware) passkeySignUpOrIn(ctx context.Context, name, origin string, p *pendingConversion) (*descope.WebAuthnTransactionResponse, error) {
	res, err := call(m, ctx, "webauthn.sign_up_or_in_start", func(ctx context.Context) (*descope.WebAuthnTransactionResponse, error) {
		return m.c.Auth.WebAuthn().SignUpOrInStart(ctx, name, origin, nil)
	})
	if err != nil {
		return nil, m.passkeyStartFailure(err)
	}
	p.Ceremony = ceremonySignUp
	if res != nil && !res.Create {
		if m.cfg.noReturning && !m.cfg.allowMerge {
			return nil, ErrIdentifierInUse
		}
		p.Ceremony = ceremonySignIn
	}
	return res, nil
}

// passkeyUserBacked starts the ceremony of a user-backed visitor u, whose
// refresh token in force is dsr: by who holds the name, a sign-in to
// another account, a sign-in to the visitor's own user when it holds a
// passkey already, or else an update that adds a passkey to it.
func (m *Middleware) passkeyUserBacked(ctx context.Context, u *User, dsr, name, origin string, p *pendingConversion) (*descope.WebAuthnTransactionResponse, error) {
	owner, err := m.owner(ctx, address{value: name})
	if err != nil {
		return nil, err
	}
	profile := owner
	switch {
	case owner != nil && owner.UserID != u.ID:
		// A returning customer: a sign-in with its account's passkey.
		if (m.cfg.noReturning && !m.cfg.allowMerge) || !owner.WebAuthn {
			// Or an account with no passkey, which none can prove.
			return nil, ErrIdentifierInUse
		}
		p.ExistingID, p.Ceremony = owner.UserID, ceremonySignIn
		return m.passkeySignInStart(ctx, name, origin)
	case owner == nil:
		if profile, p.LoginID, err = m.generatedLoginID(ctx, u.ID); err != nil {
			return nil, err
		}
	default:
		p.LoginID = generatedIn(owner, m.cfg.isGenerated)
	}
	p.LoginIDs = profile.LoginIDs
	if profile.WebAuthn {
		// A passkey conversion registered the passkey and failed half-way:
		// the same authenticator would refuse to register another for the
		// same user (excludeCredentials), so the visitor proves the one it
		// has.
		p.Ceremony = ceremonyResume
		return m.passkeySignInStart(ctx, p.LoginID, origin)
	}
	p.Ceremony = ceremonyUpdate
	res, err := call(m, ctx, "webauthn.update_start", func(ctx context.Context) (*descope.WebAuthnTransactionResponse, error) {
		sr, err := m.sdkRequest(ctx, dsr)
		if err != nil {
			return nil, err
		}
		return m.c.Auth.WebAuthn().UpdateUserDeviceStart(ctx, p.LoginID, origin, sr)
	})
	if err != nil {
		return nil, m.passkeyStartFailure(err)
	}
	return res, nil
}

// passkeySignInStart starts a sign-in with a passkey of loginID's user.
func (m *Middleware) passkeySignInStart(ctx context.Context, loginID, origin string) (*descope.WebAuthnTransactionResponse, error) {
	res, err := call(m, ctx, "webauthn.sign_in_start", func(ctx context.Context) (*descope.WebAuthnTransactionResponse, error) {
		return m.c.Auth.WebAuthn().SignInStart(ctx, loginID, origin, nil, nil)
	})
	if err != nil {
		return nil, m.passkeyStartFailure(err)
	}
	return res, nil
}

// FinishPasskeyConversion finishes the conversion
// [Middleware.StartPasskeyConversion] started for the visitor of r, with
// the transaction ID of the start and response, the browser's credential
// as Descope's JS SDKs encode it. The transaction must be the one this
// visitor's start recorded, and it finishes once: another visitor's
// transaction, a replayed one or an expired start gets
// [ErrNoPendingConversion] and nothing is sent to Descope. A credential
// Descope refuses gets [ErrInvalidPasskey].
//
// A user-backed visitor that created a passkey keeps its user ID: the
// passkey is registered, the generated login ID becomes the name (should
// the name have become another account's meanwhile: [ErrIdentifierInUse],
// and nothing else changes), and the conversion completes as
// [Middleware.FinishConversion]'s does. A native or local visitor that
// created one is a new user: OnConvert moves the data from the anonymous
// ID. A sign-in to an existing account is a returning customer's, ending
// as by a code ([WithReturningCustomers], [WithMerge]). On success w
// carries the user's session and refresh cookies and the anonymous tokens
// are retired.
func (m *Middleware) FinishPasskeyConversion(w http.ResponseWriter, r *http.Request, transactionID, response string) (*User, error) {
	transactionID, response = strings.TrimSpace(transactionID), strings.TrimSpace(response)
	var perr error
	if transactionID == "" || len(transactionID) > maxTransactionID || response == "" || len(response) > maxPasskeyResponse {
		perr = ErrInvalidPasskey
	}
	return m.finishBound(w, r, methodPasskey, transactionID, perr, func(ctx context.Context, anon *User, rt refreshToken, p pendingConversion) (*User, error) {
		req := &descope.WebAuthnFinishRequest{TransactionID: transactionID, Response: response}
		switch p.Ceremony {
		case ceremonyUpdate:
			return m.finishPasskeyUpdate(ctx, w, anon, rt, p, req)
		case ceremonyResume:
			return m.finishPasskeyResume(ctx, w, anon, rt, p, req)
		case ceremonySignUp, ceremonySignIn:
			op, finish := "webauthn.sign_in_finish", m.c.Auth.WebAuthn().SignInFinish
			if p.Ceremony == ceremonySignUp {
				op, finish = "webauthn.sign_up_finish", m.c.Auth.WebAuthn().SignUpFinish
			}
			info, err := m.passkeyFinish(ctx, op, finish, req)
			if err != nil {
				return nil, err
			}
			if p.ExistingID != "" && info.SessionToken.ID != p.ExistingID {
				// Not the account that held the name at the start.
				m.revoke(ctx, info.RefreshToken.JWT)
				return nil, fmt.Errorf("%w: the passkey signed in another account; start again", ErrNoPendingConversion)
			}
			return m.signedInAs(ctx, w, anon, rt, info)
		}
		return nil, fmt.Errorf("%w: unknown passkey ceremony %q", ErrNoPendingConversion, p.Ceremony)
	})
}

// passkeyFinish makes a finish call that signs in (op) and checks the
// pair it answers with.
func (m *Middleware) passkeyFinish(ctx context.Context, op string,
	finish func(context.Context, *descope.WebAuthnFinishRequest, http.ResponseWriter) (*descope.AuthenticationInfo, error),
	req *descope.WebAuthnFinishRequest) (*descope.AuthenticationInfo, error) {
	info, err := call(m, ctx, op, func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		return finish(ctx, req, nil)
	})
	if err != nil {
		return nil, m.passkeyFinishFailure(err)
	}
	if err := m.checkedPair(ctx, info); err != nil {
		return nil, err
	}
	return info, nil
}

// finishPasskeyUpdate registers the passkey of an update ceremony on the
// visitor's own user, then names it (namePasskeyUser). Right before, who
// holds the name: should it have become another account's since the
// start, nothing is registered.
func (m *Middleware) finishPasskeyUpdate(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, p pendingConversion, req *descope.WebAuthnFinishRequest) (*User, error) {
	owner, err := m.ownerOf(ctx, address{value: p.Name})
	if err != nil {
		return nil, err
	}
	if owner != "" && owner != anon.ID {
		return nil, ErrIdentifierInUse
	}
	_, err = call(m, ctx, "webauthn.update_finish", func(ctx context.Context) (*descope.AuthenticationInfo, error) {
		// No mfa at the start: Descope registers the passkey and mints
		// nothing (go-sdk answers nil).
		return m.c.Auth.WebAuthn().UpdateUserDeviceFinish(ctx, req, nil)
	})
	if err != nil {
		return nil, m.passkeyFinishFailure(err)
	}
	m.convEvent(ctx, Event{Kind: EventCodeVerified})
	return m.namePasskeyUser(ctx, w, anon, rt, p)
}

// finishPasskeyResume proves the passkey the visitor's own user holds
// already (a conversion that registered it and failed half-way): the
// sign-in must be of the visitor's user, and its tokens, of the anonymous
// tenant still, are revoked; then the user is named (namePasskeyUser).
func (m *Middleware) finishPasskeyResume(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, p pendingConversion, req *descope.WebAuthnFinishRequest) (*User, error) {
	info, err := m.passkeyFinish(ctx, "webauthn.sign_in_finish", m.c.Auth.WebAuthn().SignInFinish, req)
	if err != nil {
		return nil, err
	}
	m.revoke(ctx, info.RefreshToken.JWT)
	if info.SessionToken.ID != anon.ID {
		return nil, fmt.Errorf("%w: the passkey signed in another user; start again", ErrNoPendingConversion)
	}
	m.convEvent(ctx, Event{Kind: EventResumed})
	return m.namePasskeyUser(ctx, w, anon, rt, p)
}

// namePasskeyUser gives the visitor's user, whose passkey is proved, the
// name as login ID in place of its generated one (unless it has it
// already: resuming), and completes the conversion (complete): out of the
// anonymous tenant, tokens issued for the name, which must be of the same
// user ID. A name another account took meanwhile gets
// [ErrIdentifierInUse], and nothing else changes.
func (m *Middleware) namePasskeyUser(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, p pendingConversion) (*User, error) {
	tenant, err := m.anonTenant(ctx, false)
	if err != nil {
		return nil, err
	}
	var profile *descope.UserResponse
	if slices.Contains(p.LoginIDs, p.Name) {
		if profile, _, err = m.generatedLoginID(ctx, anon.ID); err != nil {
			return nil, err
		}
	} else {
		profile, err = call(m, ctx, "user.update_login_id", func(ctx context.Context) (*descope.UserResponse, error) {
			return m.c.Management.User().UpdateLoginID(ctx, p.LoginID, p.Name)
		})
		switch {
		case descope.IsError(err, descope.ErrUserAlreadyExists.Code), statusOf(err) == http.StatusConflict:
			return nil, wrap(ErrIdentifierInUse, err)
		case err != nil:
			return nil, m.descopeFailure("name the user", err)
		case profile == nil || profile.UserID != anon.ID:
			return nil, fmt.Errorf("anonymous: %w", descope.ErrUnexpectedResponse)
		}
	}
	return m.complete(ctx, w, anon, rt, address{value: p.Name}, profile, p.LoginID, tenant)
}

// passkeyStartFailure maps Descope's answers to a ceremony's start: a name
// that is a user's with no passkey is in use; a dead session is none.
func (m *Middleware) passkeyStartFailure(err error) error {
	switch {
	case descope.IsError(err, descope.ErrUserAlreadyExists.Code):
		return wrap(ErrIdentifierInUse, err)
	case descope.IsError(err, descope.ErrRefreshToken.Code), descope.IsError(err, descope.ErrTokenExpiredByLoggedOut.Code):
		return wrap(ErrNoSession, err)
	}
	return m.descopeFailure("start passkey", err)
}

// passkeyFinishFailure maps Descope's answers to a ceremony's finish: a
// refused credential or transaction (400, 401) is ErrInvalidPasskey.
func (m *Middleware) passkeyFinishFailure(err error) error {
	switch {
	case descope.IsError(err, descope.ErrUserAlreadyExists.Code):
		return wrap(ErrIdentifierInUse, err)
	case descope.IsError(err, descope.ErrRefreshToken.Code), descope.IsError(err, descope.ErrTokenExpiredByLoggedOut.Code):
		return wrap(ErrNoSession, err)
	case statusOf(err) == http.StatusBadRequest, statusOf(err) == http.StatusUnauthorized:
		return wrap(ErrInvalidPasskey, err)
	}
	return m.descopeFailure("finish passkey", err)
}
