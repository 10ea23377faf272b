package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

//go:embed index.html
var indexHTML []byte

// pageCSP allows the page's own inline script and style (by hash) and calls
// to this origin, nothing else.
var pageCSP = "default-src 'none'; " +
	"script-src " + strings.Join(inlineHashes(indexHTML, "script"), " ") + "; " +
	"style-src " + strings.Join(inlineHashes(indexHTML, "style"), " ") + "; " +
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// inlineHashes returns the CSP source expressions ('sha256-…') of the bodies
// of every <tag>…</tag> element in page (written without attributes).
func inlineHashes(page []byte, tag string) []string {
	open, end := "<"+tag+">", "</"+tag+">"
	var out []string
	rest := string(page)
	for {
		i := strings.Index(rest, open)
		if i < 0 {
			return out
		}
		rest = rest[i+len(open):]
		j := strings.Index(rest, end)
		if j < 0 {
			return out
		}
		sum := sha256.Sum256([]byte(rest[:j]))
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = rest[j+len(end):]
	}
}

// The pages a magic link opens (with ?t=) and a social login returns to
// (with ?code=&state=, or ?err=), under the public URL. Both are the one
// page, whose script posts what the query carries to the API.
const (
	linkPage  = "/convert/link"
	oauthPage = "/convert/oauth"
)

// site holds the application's state and serves its routes.
type site struct {
	anon     *anonymous.Middleware
	emu      *descopetest.Emulator // nil against real Descope
	notes    notes
	profiles *profiles // regular users' login IDs, for /api/me
	tel      *telemetry
	logger   *slog.Logger
}

// handler returns the application: the page, the JSON API and (with an
// embedded emulator) the dev outbox, behind the anonymous middleware, behind
// cross-origin protection so no other site can post to the API with the
// visitor's cookies. The metrics and the readiness probe are not here but on
// adminHandler. With the embedded emulator, a demo on one machine, the
// funnel is here too, beside the middleware (a request for it gets no
// anonymous user), for the page's panel.
func (s *site) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/me", s.me)
	mux.HandleFunc("GET /api/notes", s.listNotes)
	mux.HandleFunc("POST /api/notes", s.addNote)
	// Conversion, by every method the library has. A registered address
	// (or provider account, or passkey name) signs the returning customer
	// in to its account (outcome "signed_in"); with -returning=false it
	// answers 409 instead (at a code's, a link's or a passkey's start, at a
	// social login's finish).
	// One-time code.
	mux.Handle("POST /api/convert/start", s.anon.ConvertStartHandler())
	mux.Handle("POST /api/convert/verify", s.anon.ConvertVerifyHandler())
	// Magic link: the page the link opens posts its token to verify.
	mux.Handle("POST /api/convert/link/start", s.anon.ConvertLinkStartHandler())
	mux.Handle("POST /api/convert/link/verify", s.anon.ConvertLinkVerifyHandler())
	mux.HandleFunc("GET "+linkPage, s.landing)
	// Social login: the callback page posts code and state to finish.
	mux.Handle("POST /api/convert/oauth/start", s.anon.ConvertOAuthStartHandler())
	mux.Handle("POST /api/convert/oauth/finish", s.anon.ConvertOAuthFinishHandler())
	mux.HandleFunc("GET "+oauthPage, s.landing)
	// A conversion the application's own Descope flow verified.
	mux.Handle("POST /api/convert/complete", s.anon.ConvertCompleteHandler())
	// Passkey: the page creates one (a new name) or signs in with one
	// (a name that has one) as the start says, then posts the credential
	// to finish. Only pages at the passkey origins may (passkeyOrigins).
	mux.Handle("POST /api/convert/passkey/start", s.anon.ConvertPasskeyStartHandler())
	mux.Handle("POST /api/convert/passkey/finish", s.anon.ConvertPasskeyFinishHandler())
	mux.HandleFunc("POST /api/logout", s.logout)
	outer := http.NewServeMux()
	if s.emu != nil {
		mux.HandleFunc("GET /dev/otp", s.devOTP)
		mux.HandleFunc("GET /dev/outbox", s.devOutbox)
		outer.HandleFunc("GET /api/funnel", s.tel.serveFunnel)
	}
	outer.Handle("/", http.NewCrossOriginProtection().Handler(s.anon.Handler(mux)))
	return outer
}

// adminHandler serves what only the operator should see, on the admin
// address: the metrics, the funnel and the readiness probe (and, with the
// embedded emulator, its request counts). None of them
// goes through the middleware, so a scraper or a probe gets no anonymous
// user.
func (s *site) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.tel.metrics())
	mux.HandleFunc("GET /api/funnel", s.tel.serveFunnel)
	mux.HandleFunc("GET /healthz", healthz(s.anon))
	if s.emu != nil {
		mux.HandleFunc("GET /dev/emulator/requests", s.emulatorRequests)
	}
	return mux
}

// emulatorRequests answers {"path", "requests"}: how many requests the
// embedded emulator received for ?path= (such as /v1/mgmt/user/create, one
// per user-backed visitor provisioned) since start. It exists only in
// embedded mode, on the admin address.
func (s *site) emulatorRequests(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if !strings.HasPrefix(path, "/") {
		writeError(w, http.StatusBadRequest, "path must start with /")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": path, "requests": s.emu.Requests(path)})
}

func (s *site) index(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if h.Get("Cache-Control") == "" { // the middleware sets "private" on an answer that sets cookies
		h.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(indexHTML)
}

// landing serves the page at the address a magic link opens or a social
// login returns to. Its query carries a token or a code: the page is never
// stored (the page itself takes the query out of the history), and, as
// every page here, sends no Referer.
func (s *site) landing(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.index(w, r)
}

// me answers {"userId", "anonymous", "loginIds"}, or 401 without a user.
func (s *site) me(w http.ResponseWriter, r *http.Request) {
	u, ok := anonymous.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "no user")
		return
	}
	res := anonymous.NewUserJSON(u)
	if !u.Anonymous && len(u.LoginIDs) == 0 && !u.Degraded {
		// A regular user's email is not in its session token: it comes
		// from the profile, a management call made at most once per user
		// every few minutes (profiles).
		ids, err := s.profiles.loginIDs(r.Context(), u)
		if err != nil {
			s.logger.Warn("load user", "user", u.ID, "err", err)
		}
		if ids != nil {
			res.LoginIDs = ids
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *site) listNotes(w http.ResponseWriter, r *http.Request) {
	u, ok := anonymous.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "no user")
		return
	}
	list, err := s.notes.list(r.Context(), u.ID, u.Anonymous)
	if err != nil {
		s.logger.Warn("list notes", "user", u.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, errNotesDown.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string][]note{"notes": list})
}

func (s *site) addNote(w http.ResponseWriter, r *http.Request) {
	u, ok := anonymous.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "no user")
		return
	}
	var req struct {
		Text string `json:"text"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, err := s.notes.add(r.Context(), u.ID, u.Anonymous, req.Text)
	switch {
	case errors.Is(err, errNotesDown):
		s.logger.Warn("add note", "user", u.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, errNotesDown.Error())
	case errors.Is(err, errNoteFull):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusCreated, n)
	}
}

// logout revokes the refresh token and clears the cookies. An anonymous user
// cannot be reached again once its cookies are gone, so its notes go too,
// unless they are kept: a session token from before a conversion still says
// anonymous until it expires, and the note store, not the token, knows that
// the user converted (the OnConvert hook told it).
func (s *site) logout(w http.ResponseWriter, r *http.Request) {
	if u, ok := anonymous.FromContext(r.Context()); ok && u.Anonymous {
		if err := s.notes.forget(r.Context(), u.ID); err != nil {
			s.logger.Warn("forget notes", "user", u.ID, "err", err)
		}
	}
	if err := s.anon.Logout(w, r); err != nil {
		s.logger.Warn("logout: refresh token not revoked", "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// devOTP answers {"code"} with the last one-time code the embedded emulator
// "sent" to ?address=, so the page can show it. It exists only in embedded
// mode: real Descope emails the code.
func (s *site) devOTP(w http.ResponseWriter, r *http.Request) {
	code, ok := s.emu.Outbox(r.URL.Query().Get("address"))
	if !ok {
		writeError(w, http.StatusNotFound, "no code sent to this address")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": code})
}

// devOutbox answers {"code", "link"}: the last one-time code and the last
// magic link the embedded emulator "sent" to ?address= (each left out when
// none was), or 404 when neither was. It exists only in embedded mode: real
// Descope sends them.
func (s *site) devOutbox(w http.ResponseWriter, r *http.Request) {
	address := r.URL.Query().Get("address")
	var out struct {
		Code string `json:"code,omitempty"`
		Link string `json:"link,omitempty"`
	}
	out.Code, _ = s.emu.Outbox(address)
	out.Link, _ = s.emu.OutboxLink(address)
	if out.Code == "" && out.Link == "" {
		writeError(w, http.StatusNotFound, "nothing sent to this address")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBody bounds a JSON request body.
const maxBody = 4 << 10

// decodeJSON reads exactly one JSON object of at most maxBody bytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("body must be a small JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body must be one JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store") // per-user answers
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
