package anonymous_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
)

var b64 = base64.RawURLEncoding

func bearerHeader(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }
}

func segment(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(raw)
}

// rs256 signs claims under header with key.
func rs256(t testing.TB, header, claims map[string]any, key *rsa.PrivateKey) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// hs256 signs claims under header with an HMAC secret.
func hs256(t testing.TB, header, claims map[string]any, secret []byte) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// emulatorPublicKey fetches the emulator's signing key the way anyone can:
// GET /v2/keys/{project}.
func emulatorPublicKey(t testing.TB, emu *descopetest.Emulator) (*rsa.PublicKey, []byte) {
	t.Helper()
	res, err := http.Get(emu.URL + "/v2/keys/" + emu.ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("keys: %v %v", set, err)
	}
	jwk, _ := json.Marshal(set.Keys[0])
	n, err1 := b64.DecodeString(set.Keys[0]["n"].(string))
	e, err2 := b64.DecodeString(set.Keys[0]["e"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("jwk %s", jwk)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, jwk
}

var attacker struct {
	once sync.Once
	key  *rsa.PrivateKey
}

// attackerKey is an RSA key no Descope project knows.
func attackerKey(t testing.TB) *rsa.PrivateKey {
	attacker.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		attacker.key = k
	})
	return attacker.key
}

// forged is one token of the catalogue and where to present it.
type forged struct {
	name  string
	token string
	as    []string // "DS" cookie, "DSR" cookie (alone), "bearer"
}

var everywhere = []string{"DS", "DSR", "bearer"}

// forgeries builds the catalogue of forged and misused tokens aimed at the
// victim whose genuine session and refresh tokens are ds and dsr.
func forgeries(t testing.TB, emu *descopetest.Emulator, ds, dsr string) []forged {
	t.Helper()
	now := time.Now().Unix()
	victim := claimsOf(t, ds)
	with := func(edit func(c map[string]any)) map[string]any {
		c := maps.Clone(victim)
		edit(c)
		return c
	}
	sign := func(c map[string]any) string {
		tok, err := emu.SignToken(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	kid := emu.KeyID()
	pub, jwk := emulatorPublicKey(t, emu)
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})

	other := descopetest.New(descopetest.WithFreshKey(), descopetest.WithProjectID(emu.ProjectID))
	t.Cleanup(other.Close)
	otherTok, err := other.SignToken(victim) // same project ID and claims, another key
	if err != nil {
		t.Fatal(err)
	}

	parts := strings.Split(ds, ".")
	flip := func(seg string, bit int) string {
		raw, _ := b64.DecodeString(seg)
		raw[len(raw)/2] ^= byte(1 << bit)
		return b64.EncodeToString(raw)
	}
	none := func(alg string) string {
		return segment(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}) + "." + parts[1] + "."
	}
	attackerTok := rs256(t, map[string]any{"alg": "RS256", "kid": "attacker-kid", "typ": "JWT"}, victim, attackerKey(t))
	pad := strings.Repeat("x", 4200)
	sessionPlaces := []string{"DS", "bearer"}

	return []forged{
		{"alg none", none("none"), everywhere},
		{"alg None", none("None"), everywhere},
		{"alg none without kid", segment(t, map[string]any{"alg": "none"}) + "." + parts[1] + ".", everywhere},
		{"HS256 keyed with the public key PEM (PKIX)", hs256(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, victim, pemPKIX), everywhere},
		{"HS256 keyed with the public key PEM (PKCS1)", hs256(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, victim, pemPKCS1), everywhere},
		{"HS256 keyed with the public JWK", hs256(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, victim, jwk), everywhere},
		{"HS256 keyed with the modulus", hs256(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, victim, pub.N.Bytes()), everywhere},
		{"unknown kid", attackerTok, everywhere},
		{"attacker key under the project's kid", rs256(t, map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}, victim, attackerKey(t)), everywhere},
		{"path-like kid", rs256(t, map[string]any{"alg": "RS256", "kid": "../../" + kid, "typ": "JWT"}, victim, attackerKey(t)), everywhere},
		{"another project's key, this project's claims", otherTok, everywhere},
		{"this key, another project's issuer", sign(with(func(c map[string]any) { c["iss"] = "https://api.descope.com/Pother" })), everywhere},
		{"this key, another project's bare issuer", sign(with(func(c map[string]any) { c["iss"] = "Pother" })), everywhere},
		{"refresh token as session", dsr, sessionPlaces},
		{"session token as refresh", ds, []string{"DSR"}},
		{"expired session", sign(with(func(c map[string]any) { c["exp"], c["iat"] = now-120, now-720 })), everywhere},
		{"expired refresh", sign(with(func(c map[string]any) { c["exp"], c["iat"], c["drn"] = now-120, now-720, "DSR" })), []string{"DSR"}},
		{"nbf in the future", sign(with(func(c map[string]any) { c["nbf"] = now + 3600 })), everywhere},
		{"iat in the future", sign(with(func(c map[string]any) { c["iat"] = now + 3600 })), everywhere},
		{"missing exp", sign(with(func(c map[string]any) { delete(c, "exp") })), everywhere},
		{"missing drn", sign(with(func(c map[string]any) { delete(c, "drn") })), everywhere},
		{"unknown drn", sign(with(func(c map[string]any) { c["drn"] = "DSX" })), everywhere},
		{"truncated by one character", ds[:len(ds)-1], everywhere},
		{"truncated by half", ds[:len(ds)/2], everywhere},
		{"signature removed", parts[0] + "." + parts[1] + ".", everywhere},
		{"header and payload only", parts[0] + "." + parts[1], everywhere},
		{"header only", parts[0], everywhere},
		{"signature bit-flipped", parts[0] + "." + parts[1] + "." + flip(parts[2], 0), everywhere},
		{"payload bit-flipped", parts[0] + "." + flip(parts[1], 1) + "." + parts[2], everywhere},
		{"victim's payload, attacker's signature", parts[0] + "." + parts[1] + "." + strings.Split(attackerTok, ".")[2], everywhere},
		{"four segments", ds + "." + parts[2], everywhere},
		{"oversized but validly signed", sign(with(func(c map[string]any) { c["pad"] = pad })), everywhere},
		{"oversized garbage", strings.Repeat("A", 5000) + "." + strings.Repeat("B", 5000) + ".C", everywhere},
		{"DPoP-bound (cnf.jkt) without a proof", sign(with(func(c map[string]any) {
			c["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
		})), sessionPlaces},
	}
}

// TestForgedTokens presents every token of the catalogue as a session
// cookie, a refresh cookie and a bearer token (where each makes sense), and
// a few forged requests besides: none may be identified as the victim, and
// nothing of the victim's may change.
func TestForgedTokens(t *testing.T) {
	logs := &syncBuffer{}
	w := newWorld(t, nil, anonymous.WithLogger(newTestLogger(logs)))
	vb, victim := w.Visitor(t)
	jar := w.Jar(vb)
	ds, dsr := jar["DS"], jar["DSR"]
	catalogue := forgeries(t, w.Emu, ds, dsr)
	before := anontest.StateOf(w.Emu, victim.UserID)
	h := w.MW.Handler(anontest.App(w.MW, w.Convs))

	rejected := 0
	check := func(t *testing.T, how string, res anontest.Me, bearer bool) {
		t.Helper()
		switch {
		case res.Status >= 500:
			t.Errorf("%s: status %d", how, res.Status)
		case res.UserID == victim.UserID:
			t.Errorf("%s: identified as the victim", how)
		case res.UserID != "" && !res.New:
			t.Errorf("%s: identified as %s, neither the victim nor a new user", how, res.UserID)
		case bearer && len(res.SetCookie) != 0:
			t.Errorf("%s: cookies written for a bearer request: %v", how, res.SetCookie)
		default:
			rejected++
		}
	}
	for i, f := range catalogue {
		t.Run(f.name, func(t *testing.T) {
			remote := "198.51.100." + strconv.Itoa(i%250+1) + ":1234"
			for _, as := range f.as {
				switch as {
				case "bearer":
					check(t, "bearer", anontest.Serve(h, http.MethodGet, "/", "", remote, bearerHeader(f.token)), true)
				default:
					check(t, as+" cookie", anontest.Serve(h, http.MethodGet, "/", "", remote, cookieHeader(as+"="+f.token)), false)
				}
			}
		})
	}

	other, _ := w.Visitor(t)
	ojar := w.Jar(other)
	requests := []struct {
		name string
		edit func(*http.Request)
	}{
		{"duplicate DS cookies, attacker's first", cookieHeader("DS=" + ojar["DS"] + "; DS=" + ds)},
		{"duplicate DS cookies, victim's first", cookieHeader("DS=" + ds + "; DS=" + ojar["DS"])},
		{"duplicate DS cookies on two Cookie lines", func(r *http.Request) {
			r.Header.Add("Cookie", "DS="+ojar["DS"])
			r.Header.Add("Cookie", "DS="+ds)
		}},
		{"duplicate DSR cookies", cookieHeader("DSR=" + ojar["DSR"] + "; DSR=" + dsr)},
		{"attacker's DS with the victim's DSR", cookieHeader("DS=" + ojar["DS"] + "; DSR=" + dsr)},
		{"quoted duplicate", cookieHeader(`DS="` + ds + `"; DS=` + ojar["DS"])},
		{"cookie over 4 KB", cookieHeader("DS=" + ds + strings.Repeat("A", 4096))},
		{"victim's session as DSR beside a garbage DS", cookieHeader("DS=garbage; DSR=" + ds)},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			res := anontest.Serve(h, http.MethodGet, "/", "", "198.51.100.251:1234", rq.edit)
			if rq.name == "attacker's DS with the victim's DSR" {
				// The attacker's own valid session wins; the victim's refresh
				// token is not used.
				if res.UserID == victim.UserID || len(res.SetCookie) != 0 {
					t.Errorf("got %+v", res)
				} else {
					rejected++
				}
				return
			}
			check(t, rq.name, res, false)
		})
	}

	// JSON bodies of the wrong shape to the conversion handlers, from the
	// attacker's own session, naming the victim every way a body could.
	bodies := []string{
		`{"userId":"` + victim.UserID + `","email":"attacker@example.com"}`,
		`{"email":"attacker@example.com","code":"123456","user":{"id":"` + victim.UserID + `"}}`,
		`{"email":{"$ne":""}}`,
		`{"email":["attacker@example.com"]}`,
		`[{"email":"attacker@example.com"}]`,
		`{"email":"attacker@example.com","code":123456}`,
		`{"email":"attacker@example.com","phone":"+14155550100","code":"1"}`,
		`null`,
		`"attacker@example.com"`,
		`{"email":"attacker@example.com"}{"email":"victim@example.com"}`,
		`{"email":"attacker@example.com"`,
		`{"email":"attacker@example.com","email2":"x"}`,
		`{"email":"` + strings.Repeat("a", 5000) + `@example.com"}`,
		`{"email":"attacker@example.com` + "\x00" + `victim@example.com"}`,
		`{"email":"Victim <attacker@example.com>"}`,
		`{}`,
		``,
	}
	cookies := cookieHeader("DS=" + ojar["DS"] + "; DSR=" + ojar["DSR"])
	w.Emu.ResetRequests()
	for i, body := range bodies {
		for _, path := range []string{"/convert/start", "/convert/verify"} {
			res := anontest.Serve(h, http.MethodPost, path, body, "198.51.100.252:1234", cookies)
			want := http.StatusBadRequest
			if body == "" {
				want = http.StatusUnsupportedMediaType // no body, so no Content-Type: application/json
			}
			if res.Status != want || len(res.SetCookie) != 0 {
				t.Errorf("body %d to %s: %d %q %v", i, path, res.Status, res.Body, res.SetCookie)
			} else {
				rejected++
			}
		}
	}
	if n := w.Emu.Requests("/v1/auth/otp/update/email") + w.Emu.Requests("/v1/auth/otp/verify/email"); n != 0 {
		t.Errorf("bodies of the wrong shape reached Descope's OTP API %d times", n)
	}

	if after := anontest.StateOf(w.Emu, victim.UserID); !after.Equal(before) {
		t.Errorf("victim changed: %+v, was %+v", after, before)
	}
	if me := w.Get(t, vb, "/"); me.UserID != victim.UserID || me.New || len(me.SetCookie) != 0 {
		t.Errorf("victim after the attempts: %+v", me)
	}
	t.Logf("forged tokens and requests rejected: %d", rejected)

	// What the middleware logged (at debug level) holds no token, genuine or
	// forged: no payload and no signature segment.
	tokens := []string{ds, dsr, ojar["DS"], ojar["DSR"]}
	for _, f := range catalogue {
		tokens = append(tokens, f.token)
	}
	text := logs.String()
	if !strings.Contains(text, "level=") {
		t.Fatal("nothing was logged")
	}
	for _, tok := range tokens {
		for _, seg := range strings.Split(tok, ".")[1:] {
			if len(seg) >= 16 && strings.Contains(text, seg) {
				t.Errorf("a token segment was logged: %.40s…", seg)
			}
		}
	}
}
