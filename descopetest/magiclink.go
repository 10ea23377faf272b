package descopetest

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// Magic links, as Descope's OpenAPI describes them (/v1/auth/magiclink/...):
// a call sends a link, URI + "?t=<token>", to an email address or phone;
// POST /v1/auth/magiclink/verify {token} finishes what the call started and
// answers a JWT response. What the emulator "sends" lands in its link
// outbox (OutboxLink, GET /emulator/v1/outbox/link?address=...).
//
// What Descope documents and the emulator does: a link is single use ("A
// magic link is a single-use link", docs.descope.com magic link via client
// SDKs) and expires (the project's expiration_time; WithMagicLinkTTL), and
// "sending multiple magic links ... does not invalidate magic links that
// have already been sent" (OpenAPI, every magic link endpoint), so every
// link sent stays valid until used or expired. An update with
// addToLoginIDs onto another user's login ID merges the users exactly as an
// OTP update does (update.go): both take the same UpdateOptions (core-js-sdk
// types.ts), and nothing public says they differ.
//
// What it does not document, and the emulator's choice: Descope documents
// no attempt limit for links, and a verify names no user or address to
// count wrong tokens against, so wrong tokens are refused (E061102, the
// code of a wrong one-time code) without counting. The amr claim is the
// delivery method (email, sms, whatsapp), as for one-time codes.

// magicLinkRequest is the body of magic link sign-in and sign-up-or-in.
type magicLinkRequest struct {
	LoginID      string        `json:"loginId"`
	URI          string        `json:"URI"`
	RedirectURL  string        `json:"redirectUrl"` // the OpenAPI's name for URI
	LoginOptions *loginOptions `json:"loginOptions"`
}

// magicLinkSignUpRequest is the body of magic link sign-up.
type magicLinkSignUpRequest struct {
	magicLinkRequest
	User     *userFields `json:"user"`
	Email    string      `json:"email"`
	Phone    string      `json:"phone"`
	WhatsApp string      `json:"whatsapp"`
}

// magicLinkUpdateRequest is the body of magic link email and phone update.
type magicLinkUpdateRequest struct {
	updateRequest
	URI         string `json:"URI"`
	RedirectURL string `json:"redirectUrl"`
}

// magicLinkVerifyRequest is the body of magic link verify.
type magicLinkVerifyRequest struct {
	Token string `json:"token"`
}

// linkKind is what a magic link finishes when verified.
type linkKind int

const (
	linkUpdate   linkKind = iota // add or change a user's email or phone
	linkSignIn                   // sign in an existing user
	linkSignUp                   // create a user
	linkSignUpIn                 // sign in, or create the user first
)

// linkOp is a magic link waiting to be verified. Guarded by Emulator.mu.
type linkOp struct {
	kind    linkKind
	method  string        // delivery method, for the amr claim
	target  addressUpdate // class, login ID and address; the user and options of an update
	in      *userInput    // the user a sign-up creates
	custom  map[string]any
	expires time.Time
}

// linkMethodClass maps the delivery method of a magic link path to the
// class of address it sends to: Descope's SDKs send links by email, SMS and
// WhatsApp, not by voice (core-js-sdk magicLink/index.ts).
func linkMethodClass(method string) (string, bool) {
	switch method {
	case "email":
		return "email", true
	case "sms", "whatsapp":
		return "phone", true
	}
	return "", false
}

// linkRequest checks the delivery method that ends the path of a magic
// link call (call.arg), then decodes the body into req, and returns the
// class of address the method sends to.
func linkRequest(c *call, req any) (string, *apiError) {
	class, ok := linkMethodClass(c.arg)
	if !ok {
		return "", invalid("unsupported delivery method %q: use email, sms or whatsapp", c.arg)
	}
	return class, c.decode(req)
}

// linkURI picks the URI a link points to: the call's, else the project's
// (WithMagicLinkURI). It must be an absolute URL, on an approved domain
// when the project has any (WithApprovedDomains).
func (e *Emulator) linkURI(uri, redirectURL string) (string, *apiError) {
	for _, u := range []string{uri, redirectURL, e.cfg.methods.magicLinkURI} {
		if u = strings.TrimSpace(u); u != "" {
			uri = u
			break
		}
	}
	if uri == "" {
		return "", missingArg("URI")
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", invalid("URI %q is not an absolute URL", uri)
	}
	if !e.approvedHost(u.Hostname()) {
		return "", invalid("URI %q is not on an approved domain", uri)
	}
	return uri, nil
}

// approvedHost reports whether host is on one of the project's approved
// domains (or any host, when the project has none).
func (e *Emulator) approvedHost(host string) bool {
	domains := e.cfg.methods.approvedDomains
	if len(domains) == 0 {
		return true
	}
	host = strings.ToLower(host)
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// newLinkToken returns a random magic link token: 32 bytes, base64url.
func newLinkToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sendLinkLocked makes a link to uri for op, notes it in the link outbox
// of op's address, and answers the masked address.
func (e *Emulator) sendLinkLocked(op *linkOp, uri string) any {
	now := e.now()
	op.expires = now.Add(e.cfg.methods.linkTTL())
	token := newLinkToken()
	sweepExpired(e.methods.links, now, func(l *linkOp) time.Time { return l.expires })
	e.methods.links[token] = op
	u, _ := url.Parse(uri) // checked by linkURI
	q := u.Query()
	q.Set("t", token)
	u.RawQuery = q.Encode()
	e.methods.linkOutbox[normLogin(op.target.address)] = u.String()
	return masked(op.target.class, op.target.address)
}

// linkAddressLocked is where a link for the login ID goes: the address of
// the class of the user who has it, else the login ID itself when it is an
// address of the class.
func (e *Emulator) linkAddressLocked(class, loginID string) (string, *apiError) {
	address := loginID
	if u := e.userByLoginLocked(loginID); u != nil && u.address(class) != "" {
		address = u.address(class)
	}
	if !looksLike(class, address) {
		return "", invalid("no %s to send a magic link to for %q", addressNoun(class), loginID)
	}
	return address, nil
}

// handleMagicLinkSignIn sends a sign-in link to an existing user.
func (e *Emulator) handleMagicLinkSignIn(c *call) (any, *apiError) {
	var req magicLinkRequest
	class, a := linkRequest(c, &req)
	if a != nil {
		return nil, a
	}
	return e.startLink(c.arg, class, &req, linkSignIn, nil)
}

// handleMagicLinkSignUpIn sends a link that signs the user in, creating it
// first if no user has the login ID.
func (e *Emulator) handleMagicLinkSignUpIn(c *call) (any, *apiError) {
	var req magicLinkRequest
	class, a := linkRequest(c, &req)
	if a != nil {
		return nil, a
	}
	return e.startLink(c.arg, class, &req, linkSignUpIn, nil)
}

// handleMagicLinkSignUp sends a link that creates a user; the login ID must
// be free ("The endpoint will return a failure code if the email address is
// already registered", OpenAPI).
func (e *Emulator) handleMagicLinkSignUp(c *call) (any, *apiError) {
	var req magicLinkSignUpRequest
	class, a := linkRequest(c, &req)
	if a != nil {
		return nil, a
	}
	loginID := strings.TrimSpace(req.LoginID)
	in := req.User.input(loginID)
	address := in.address(class)
	for _, s := range []string{req.Email, req.Phone, req.WhatsApp} {
		if s = strings.TrimSpace(s); s != "" && looksLike(class, s) {
			address = s
		}
	}
	if address == "" {
		address = loginID
	}
	in.setAddress(class, address, false)
	return e.startLink(c.arg, class, &req.magicLinkRequest, linkSignUp, in)
}

// startLink sends a sign-in, sign-up or sign-up-or-in link for the login ID
// of req by the delivery method; in is the user a sign-up creates.
func (e *Emulator) startLink(method, class string, req *magicLinkRequest, kind linkKind, in *userInput) (any, *apiError) {
	loginID := strings.TrimSpace(req.LoginID)
	if loginID == "" {
		return nil, missingArg("loginId")
	}
	uri, a := e.linkURI(req.URI, req.RedirectURL)
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByLoginLocked(loginID)
	var address string
	switch {
	case kind == linkSignIn && u == nil:
		return nil, authUserNotFound(loginID)
	case kind == linkSignIn && u.status == "disabled":
		return nil, userDisabled()
	case kind == linkSignUp && u != nil:
		return nil, userExists(loginID)
	case kind == linkSignUp:
		address = in.address(class)
		if !looksLike(class, address) {
			return nil, invalid("no %s to send a magic link to for %q", addressNoun(class), loginID)
		}
	default:
		if address, a = e.linkAddressLocked(class, loginID); a != nil {
			return nil, a
		}
	}
	op := &linkOp{
		kind:   kind,
		method: method,
		target: addressUpdate{class: class, loginID: loginID, address: address},
		in:     in,
		custom: cloneAny(req.LoginOptions.claims()),
	}
	return e.sendLinkLocked(op, uri), nil
}

// handleMagicLinkUpdateEmail sends a link that makes the address the
// signed-in user's email (see startUpdate).
func (e *Emulator) handleMagicLinkUpdateEmail(c *call, req *magicLinkUpdateRequest) (any, *apiError) {
	return e.linkUpdate(c, req, "email", "email")
}

// handleMagicLinkUpdatePhone checks the delivery method of the path (sms
// or whatsapp, as go-sdk allows) before it reads the body.
func (e *Emulator) handleMagicLinkUpdatePhone(c *call) (any, *apiError) {
	if class, ok := linkMethodClass(c.arg); !ok || class != "phone" {
		return nil, invalid("unsupported delivery method %q: use sms or whatsapp", c.arg)
	}
	var req magicLinkUpdateRequest
	if a := c.decode(&req); a != nil {
		return nil, a
	}
	return e.linkUpdate(c, &req, "phone", c.arg)
}

// linkUpdate starts a magic link update of the signed-in user's address of
// the class, sent by the delivery method.
func (e *Emulator) linkUpdate(c *call, req *magicLinkUpdateRequest, class, method string) (any, *apiError) {
	uri, a := e.linkURI(req.URI, req.RedirectURL)
	if a != nil {
		return nil, a
	}
	var answer any
	_, a = e.startUpdate(c, &req.updateRequest, class, func(upd addressUpdate) {
		answer = e.sendLinkLocked(&linkOp{kind: linkUpdate, method: method, target: upd}, uri)
	})
	return answer, a
}

// handleMagicLinkVerify finishes what the link of the token started. The
// token is spent whatever the outcome.
func (e *Emulator) handleMagicLinkVerify(c *call, req *magicLinkVerifyRequest) (any, *apiError) {
	if req.Token == "" {
		return nil, missingArg("token")
	}
	return e.issue(func() (*grant, *apiError) {
		op := e.takeLinkLocked(req.Token)
		if op == nil {
			return nil, badLink()
		}
		if !e.now().Before(op.expires) {
			return nil, badLink()
		}
		return e.finishLinkLocked(op)
	})
}

// takeLinkLocked removes and returns the link of token, or nil.
func (e *Emulator) takeLinkLocked(token string) *linkOp {
	op := e.methods.links[token]
	delete(e.methods.links, token)
	return op
}

// finishLinkLocked applies a verified link.
func (e *Emulator) finishLinkLocked(op *linkOp) (*grant, *apiError) {
	t := &op.target
	switch op.kind {
	case linkUpdate:
		return e.applyUpdateLocked(t, op.method)
	case linkSignUpIn:
		return e.applySignUpInLocked(&otpOp{
			kind: otpSignUpIn, class: t.class, loginID: t.loginID, address: t.address, custom: op.custom,
		}, op.method)
	case linkSignUp:
		in := *op.in
		in.setAddress(t.class, t.address, true)
		u, a := e.createUserLocked(&in)
		if a != nil {
			return nil, a
		}
		g := e.signInGrantLocked(u, op.method)
		g.custom, g.firstSeen = op.custom, true
		return g, nil
	}
	u := e.userByLoginLocked(t.loginID)
	switch {
	case u == nil:
		return nil, authUserNotFound(t.loginID)
	case u.status == "disabled":
		return nil, userDisabled()
	}
	u.markVerified(t.class, t.address)
	e.touchLocked(u)
	g := e.signInGrantLocked(u, op.method)
	g.custom = op.custom
	return g, nil
}

// OutboxLink returns the latest magic link sent to an email address or
// phone number, such as "https://app.example.com/verify?t=...". The HTTP
// endpoint GET /emulator/v1/outbox/link?address=... answers the same as
// {"link":"...","token":"..."}, or 404 when no link was sent.
func (e *Emulator) OutboxLink(address string) (link string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	link, ok = e.methods.linkOutbox[normLogin(address)]
	return link, ok
}

// handleOutboxLink answers the latest link sent to the query's address:
// the HTTP side of OutboxLink.
func (e *Emulator) handleOutboxLink(c *call) (any, *apiError) {
	addr, a := c.query("address")
	if a != nil {
		return nil, a
	}
	link, ok := e.OutboxLink(addr)
	if !ok {
		return nil, notFound("no magic link was sent to " + addr)
	}
	token := ""
	if u, err := url.Parse(link); err == nil {
		token = u.Query().Get("t")
	}
	return map[string]string{"link": link, "token": token}, nil
}
