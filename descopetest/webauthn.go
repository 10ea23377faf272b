package descopetest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"
)

// Passkeys (WebAuthn), as go-sdk v1.28.0 and Descope's OpenAPI describe
// them: a start call answers {transactionId, options, create}, options
// being the JSON string that the JS SDKs turn into the argument of
// navigator.credentials.create (create true) or get (web-js-sdk
// webauthn.ts decodeCreateOptions and decodeGetOptions: {"publicKey":
// {...}} with challenge, user.id and credential IDs in base64url); the
// finish call takes {transactionId, response}, response being the
// browser's answer encoded by the same SDK, and verifies it
// (webauthn_verify.go).
//
//	POST /v1/auth/webauthn/update/start   pid:R  {loginId, origin, mfa}   add a passkey to the signed-in user
//	POST /v1/auth/webauthn/update/finish  pid    {transactionId, response} → {} or, with mfa, {"jwt": JWT response}
//	POST /v1/auth/webauthn/signin/start   pid    {loginId, origin}         loginId "" lets the browser pick
//	POST /v1/auth/webauthn/signin/finish  pid    → JWT response
//	POST /v1/auth/webauthn/signup/start   pid    {loginId, user, origin}   → create: true
//	POST /v1/auth/webauthn/signup/finish  pid    → JWT response (firstSeen)
//	POST /v1/auth/webauthn/signup-in/start pid   {loginId, origin}         → create tells which finish to call
//
// The emulator's choices where Descope's documents are silent: passkeys
// are discoverable (residentKey "required"), so a user can sign in from a
// browser that has never seen it, with no login ID (as core-js-sdk allows:
// its sign-in start only needs loginId to be a string); user verification
// is required; attestation "none" is asked for; a transaction is single use
// (any finish spends it, verified or not) and lasts PasskeyTimeout on the
// emulator's clock; an update's finish needs the session that started it
// to be still live, and refuses a refresh token of another user if the
// call carries one; a sign-up-or-in for a user who has no passkey is
// refused as "user already exists" rather than letting anyone add one;
// the amr claim is "webauthn".

// passkeyTxKind is what a WebAuthn transaction finishes.
type passkeyTxKind int

const (
	txUpdate passkeyTxKind = iota // register a passkey for a signed-in user
	txSignUp                      // register a passkey for a new user
	txSignIn                      // sign in with a registered passkey
)

// passkeyTx is a WebAuthn ceremony between its start and finish calls.
// Guarded by Emulator.mu.
type passkeyTx struct {
	kind passkeyTxKind
	ceremony
	userID     string // update and sign-in: the user; "" for a sign-in that names none
	refreshJTI string // update: the refresh token that started it
	handle     []byte // registration: the options' user.id
	in         *userInput
	mfa        bool
	custom     map[string]any
	expires    time.Time
}

// passkeyStartRequest is the body of the WebAuthn start calls. go-sdk
// sends the login ID at the top; core-js-sdk's sign-up sends it in user.
type passkeyStartRequest struct {
	LoginID      string        `json:"loginId"`
	Origin       string        `json:"origin"`
	MFA          bool          `json:"mfa"`
	User         *passkeyUser  `json:"user"`
	LoginOptions *loginOptions `json:"loginOptions"`
}

// passkeyUser is the user of a WebAuthn sign-up.
type passkeyUser struct {
	userFields
	LoginID string `json:"loginId"`
}

// passkeyFinishRequest is the body of the WebAuthn finish calls (go-sdk
// spells the first field transactionID; JSON field names match regardless
// of case).
type passkeyFinishRequest struct {
	TransactionID string `json:"transactionId"`
	Response      string `json:"response"`
}

// passkeyStartResponse is the answer of the WebAuthn start calls.
type passkeyStartResponse struct {
	TransactionID string `json:"transactionId"`
	Options       string `json:"options"`
	Create        bool   `json:"create"`
}

// relyingParty checks the origin of a start call and returns its relying
// party ID: the passkey domain (WithPasskeyDomain), else the origin's
// host. Browsers allow WebAuthn on https origins and on http://localhost,
// and refuse IP addresses as relying party IDs.
func (e *Emulator) relyingParty(origin string) (string, *apiError) {
	if origin == "" {
		return "", missingArg("origin")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", invalid("origin %q is not scheme://host[:port]", origin)
	}
	host := strings.ToLower(u.Hostname())
	local := host == "localhost" || strings.HasSuffix(host, ".localhost")
	switch {
	case net.ParseIP(host) != nil:
		return "", invalid("origin %q: passkeys need a domain, not an IP address", origin)
	case u.Scheme != "https" && !(u.Scheme == "http" && local):
		return "", invalid("origin %q: passkeys need https, or http on localhost", origin)
	}
	rpID := e.cfg.methods.passkeyDomain
	if rpID == "" {
		rpID = host
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", invalid("origin %q is not on the passkey domain %q", origin, rpID)
	}
	return rpID, nil
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}

// credentialDescriptor is a PublicKeyCredentialDescriptor of the options.
type credentialDescriptor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// descriptorsLocked lists u's passkeys for the relying party.
func descriptorsLocked(u *user, rpID string) []credentialDescriptor {
	out := []credentialDescriptor{}
	if u == nil {
		return out
	}
	for _, pk := range u.passkeys {
		if pk.rpID == rpID {
			out = append(out, credentialDescriptor{Type: "public-key", ID: pk.id})
		}
	}
	return out
}

// userHandleLocked is the user.id the registration options of u carry: the
// handle of its passkeys, or its user ID when it has none.
func userHandleLocked(u *user) []byte {
	if len(u.passkeys) > 0 {
		return u.passkeys[0].userHandle
	}
	return []byte(u.id)
}

// openPasskeyTxLocked gives tx a challenge, a lifetime and an ID, stores
// it, and answers its options: creation options naming the user (name,
// displayName) and excluding its credentials when create, else request
// options allowing those credentials.
func (e *Emulator) openPasskeyTxLocked(tx *passkeyTx, create bool, name, displayName string, creds []credentialDescriptor) (any, *apiError) {
	now := e.now()
	tx.challenge = randomBytes(32)
	tx.expires = now.Add(PasskeyTimeout)
	b64 := base64.RawURLEncoding.EncodeToString
	timeout := PasskeyTimeout.Milliseconds()
	var publicKey map[string]any
	if create {
		publicKey = map[string]any{
			"rp":        map[string]string{"id": tx.rpID, "name": e.ProjectID},
			"user":      map[string]string{"id": b64(tx.handle), "name": name, "displayName": displayName},
			"challenge": b64(tx.challenge),
			"pubKeyCredParams": []map[string]any{
				{"type": "public-key", "alg": coseES256},
				{"type": "public-key", "alg": coseRS256},
			},
			"timeout":            timeout,
			"excludeCredentials": creds,
			"authenticatorSelection": map[string]any{
				"residentKey": "required", "requireResidentKey": true, "userVerification": "required",
			},
			"attestation": "none",
		}
	} else {
		publicKey = map[string]any{
			"challenge":        b64(tx.challenge),
			"timeout":          timeout,
			"rpId":             tx.rpID,
			"allowCredentials": creds,
			"userVerification": "required",
		}
	}
	options, err := json.Marshal(map[string]any{"publicKey": publicKey})
	if err != nil {
		return nil, internalError("encoding WebAuthn options: " + err.Error())
	}
	id := newLinkToken()
	sweepExpired(e.methods.passkeyTxs, now, func(t *passkeyTx) time.Time { return t.expires })
	e.methods.passkeyTxs[id] = tx
	return &passkeyStartResponse{TransactionID: id, Options: string(options), Create: create}, nil
}

// takePasskeyTxLocked removes the transaction of req and returns it if it
// is of the kind and still open.
func (e *Emulator) takePasskeyTxLocked(req *passkeyFinishRequest, kind passkeyTxKind) (*passkeyTx, *apiError) {
	tx := e.methods.passkeyTxs[req.TransactionID]
	delete(e.methods.passkeyTxs, req.TransactionID)
	switch {
	case tx == nil:
		return nil, passkeyRefused("unknown or used WebAuthn transaction")
	case tx.kind != kind:
		return nil, passkeyRefused("the WebAuthn transaction was started for another call")
	case !e.now().Before(tx.expires):
		return nil, passkeyRefused("the WebAuthn transaction expired")
	}
	return tx, nil
}

// finishRequired checks the fields of a finish call.
func finishRequired(req *passkeyFinishRequest) *apiError {
	return required(field{"transactionId", req.TransactionID}, field{"response", req.Response})
}

// handlePasskeyUpdateStart starts adding a passkey to the signed-in user.
func (e *Emulator) handlePasskeyUpdateStart(c *call, req *passkeyStartRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	rpID, a := e.relyingParty(req.Origin)
	if a != nil {
		return nil, a
	}
	return e.withSession(c, func(rec *refreshRecord, u *user) (any, *apiError) {
		if rec.anon {
			return nil, invalid("anonymous sessions have no user to update")
		}
		if e.userByLoginLocked(req.LoginID) != u {
			return nil, unauthorized("login ID %q does not belong to the signed-in user", req.LoginID)
		}
		tx := &passkeyTx{
			kind: txUpdate, ceremony: ceremony{origin: req.Origin, rpID: rpID},
			userID: u.id, refreshJTI: c.refresh.jti, handle: userHandleLocked(u), mfa: req.MFA,
		}
		display := u.name
		if display == "" {
			display = req.LoginID
		}
		return e.openPasskeyTxLocked(tx, true, req.LoginID, display, descriptorsLocked(u, rpID))
	})
}

// handlePasskeyUpdateFinish registers the passkey of an update
// transaction. Without mfa it answers {}; with mfa, {"jwt": ...} with new
// tokens whose amr adds "webauthn" to the session's.
func (e *Emulator) handlePasskeyUpdateFinish(c *call, req *passkeyFinishRequest) (any, *apiError) {
	if a := finishRequired(req); a != nil {
		return nil, a
	}
	caller, a := e.optionalRefresh(c)
	if a != nil {
		return nil, a
	}
	now := time.Now()
	e.mu.Lock()
	g, a := e.finishUpdateLocked(req, caller)
	if a == nil && g != nil {
		e.registerLocked(g, now)
	}
	e.mu.Unlock()
	if a != nil || g == nil {
		return nil, a
	}
	res, a := e.mint(g, now)
	if a != nil {
		return nil, a
	}
	return map[string]any{"jwt": res}, nil
}

// finishUpdateLocked verifies and registers the passkey of an update
// transaction, and returns the grant to mint with mfa, else nil.
func (e *Emulator) finishUpdateLocked(req *passkeyFinishRequest, caller *tokenClaims) (*grant, *apiError) {
	tx, a := e.takePasskeyTxLocked(req, txUpdate)
	if a != nil {
		return nil, a
	}
	if caller != nil && caller.sub != tx.userID {
		return nil, passkeyRefused("the WebAuthn transaction was started by another user")
	}
	rec := e.tokens[tx.refreshJTI]
	u := e.users[tx.userID]
	switch {
	case rec == nil || rec.revoked || u == nil:
		return nil, loggedOut()
	case u.status == "disabled":
		return nil, userDisabled()
	}
	pk, a := e.verifyNewPasskeyLocked(req.Response, tx)
	if a != nil {
		return nil, a
	}
	u.passkeys = append(u.passkeys, pk)
	e.methods.credentials[pk.id] = u.id
	e.touchLocked(u)
	if !tx.mfa {
		return nil, nil
	}
	g := e.grantForUserLocked(u, "")
	g.amr = mergeStrings(append([]string(nil), rec.amr...), []string{"webauthn"})
	g.custom = rec.custom
	return g, nil
}

// optionalRefresh returns the refresh token a call carries beside the
// project ID, if any, verified; a finish call needs none.
func (e *Emulator) optionalRefresh(c *call) (*tokenClaims, *apiError) {
	parts := bearerParts(c.r.Header.Get("Authorization"))
	for i, p := range parts {
		if i > 0 && strings.Count(p, ".") == 2 && !equalSecret(p, e.ManagementKey) {
			return e.verifyRefresh(p)
		}
	}
	return nil, nil
}

// verifyNewPasskeyLocked verifies the answer of a registration and returns
// the passkey to store, which no user may have registered already.
func (e *Emulator) verifyNewPasskeyLocked(response string, tx *passkeyTx) (*passkey, *apiError) {
	pk, err := verifyRegistration(response, &tx.ceremony)
	if err != nil {
		return nil, passkeyRefused("%v", err)
	}
	if owner, _ := e.credentialOwnerLocked(pk.id); owner != nil {
		return nil, passkeyRefused("the credential is already registered")
	}
	pk.userHandle = tx.handle
	pk.created = e.now()
	return pk, nil
}

// handlePasskeySignInStart starts a sign-in with a passkey of the login
// ID's user, or, without a login ID, with any passkey the browser holds for
// the relying party.
func (e *Emulator) handlePasskeySignInStart(c *call, req *passkeyStartRequest) (any, *apiError) {
	rpID, a := e.relyingParty(req.Origin)
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.startSignInLocked(req, rpID)
}

// startSignInLocked opens a sign-in transaction for req.
func (e *Emulator) startSignInLocked(req *passkeyStartRequest, rpID string) (any, *apiError) {
	tx := &passkeyTx{kind: txSignIn, ceremony: ceremony{origin: req.Origin, rpID: rpID}, custom: cloneAny(req.LoginOptions.claims())}
	allow := []credentialDescriptor{} // browsers refuse null
	if req.LoginID != "" {
		u := e.userByLoginLocked(req.LoginID)
		switch {
		case u == nil:
			return nil, authUserNotFound(req.LoginID)
		case u.status == "disabled":
			return nil, userDisabled()
		}
		if allow = descriptorsLocked(u, rpID); len(allow) == 0 {
			return nil, invalid("user %q has no passkey for %q", req.LoginID, rpID)
		}
		tx.userID = u.id
	}
	return e.openPasskeyTxLocked(tx, false, "", "", allow)
}

// handlePasskeySignInFinish signs in the owner of the passkey that
// answered a sign-in transaction.
func (e *Emulator) handlePasskeySignInFinish(c *call, req *passkeyFinishRequest) (any, *apiError) {
	if a := finishRequired(req); a != nil {
		return nil, a
	}
	return e.issue(func() (*grant, *apiError) {
		tx, a := e.takePasskeyTxLocked(req, txSignIn)
		if a != nil {
			return nil, a
		}
		as, err := parseAssertion(req.Response)
		if err != nil {
			return nil, passkeyRefused("%v", err)
		}
		u, pk := e.credentialOwnerLocked(as.credID)
		switch {
		case u == nil:
			return nil, passkeyRefused("unknown credential")
		case tx.userID != "" && u.id != tx.userID:
			return nil, passkeyRefused("the credential is not the user's who started the sign-in")
		}
		count, err := as.verify(&tx.ceremony, pk, tx.userID == "")
		if err != nil {
			return nil, passkeyRefused("%v", err)
		}
		pk.signCount = count
		if u.status == "disabled" {
			return nil, userDisabled()
		}
		g := e.signInGrantLocked(u, "webauthn")
		g.custom = tx.custom
		return g, nil
	})
}

// signUpLoginID is the login ID of a sign-up start: at the top (go-sdk)
// or in user (core-js-sdk).
func (req *passkeyStartRequest) signUpLoginID() string {
	if req.LoginID == "" && req.User != nil {
		return strings.TrimSpace(req.User.LoginID)
	}
	return strings.TrimSpace(req.LoginID)
}

// handlePasskeySignUpStart starts registering a passkey for a new user.
func (e *Emulator) handlePasskeySignUpStart(c *call, req *passkeyStartRequest) (any, *apiError) {
	loginID := req.signUpLoginID()
	if loginID == "" {
		return nil, missingArg("loginId")
	}
	rpID, a := e.relyingParty(req.Origin)
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.userByLoginLocked(loginID) != nil {
		return nil, userExists(loginID)
	}
	var fields *userFields
	if req.User != nil {
		fields = &req.User.userFields
	}
	return e.startSignUpLocked(req, loginID, rpID, fields.input(loginID))
}

// startSignUpLocked opens a sign-up transaction for the user in.
func (e *Emulator) startSignUpLocked(req *passkeyStartRequest, loginID, rpID string, in *userInput) (any, *apiError) {
	tx := &passkeyTx{
		kind: txSignUp, ceremony: ceremony{origin: req.Origin, rpID: rpID},
		handle: randomBytes(32), in: in, custom: cloneAny(req.LoginOptions.claims()),
	}
	display := in.name
	if display == "" {
		display = loginID
	}
	return e.openPasskeyTxLocked(tx, true, loginID, display, []credentialDescriptor{})
}

// handlePasskeySignUpFinish creates the user of a sign-up transaction with
// its passkey and signs it in.
func (e *Emulator) handlePasskeySignUpFinish(c *call, req *passkeyFinishRequest) (any, *apiError) {
	if a := finishRequired(req); a != nil {
		return nil, a
	}
	return e.issue(func() (*grant, *apiError) {
		tx, a := e.takePasskeyTxLocked(req, txSignUp)
		if a != nil {
			return nil, a
		}
		pk, a := e.verifyNewPasskeyLocked(req.Response, tx)
		if a != nil {
			return nil, a
		}
		u, a := e.createUserLocked(tx.in)
		if a != nil {
			return nil, a
		}
		u.passkeys = []*passkey{pk}
		e.methods.credentials[pk.id] = u.id
		g := e.signInGrantLocked(u, "webauthn")
		g.custom, g.firstSeen = tx.custom, true
		return g, nil
	})
}

// handlePasskeySignUpOrInStart starts a sign-in when the login ID's user
// has a passkey for the relying party, else a sign-up when no user has the
// login ID; a user without a passkey is refused.
func (e *Emulator) handlePasskeySignUpOrInStart(c *call, req *passkeyStartRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	rpID, a := e.relyingParty(req.Origin)
	if a != nil {
		return nil, a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByLoginLocked(req.LoginID)
	switch {
	case u == nil:
		return e.startSignUpLocked(req, req.LoginID, rpID, &userInput{loginIDs: []string{req.LoginID}})
	case len(descriptorsLocked(u, rpID)) == 0:
		return nil, userExists(req.LoginID)
	}
	return e.startSignInLocked(req, rpID)
}
