package anontest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/descope-contrib/anonymous"
)

// App is the application the tests drive. /whoami reports the context's user
// (401 without one), every other GET path too (200 with an empty userId
// without one); /ensure calls Ensure; /convert/start and /convert/verify are
// the conversion handlers, /convert/link/start, /convert/link/verify,
// /convert/oauth/start, /convert/oauth/finish, /convert/passkey/start,
// /convert/passkey/finish and /convert/complete those of magic links,
// social login, passkeys and of a conversion done elsewhere; /logout calls Logout. POST /x/start, /x/verify
// (query parameters addr and code), /x/logout and /x/promote call the
// conversion functions, Logout and Promote directly, recording the errors
// they return in convs (nil: not recorded) and answering with ErrorStatus;
// /x/promote?to=s calls PromoteTo the strategy s names (user-backed,
// native, local) instead. /cached answers as / does, with the Cache-Control
// CachedControl and cache headers for CDNs, written as ?write= says: at
// once, after a flush ("flush"), or by io.Copy ("copy").
func App(m *anonymous.Middleware, convs *ErrLog) http.Handler {
	if convs == nil {
		convs = &ErrLog{}
	}
	mux := http.NewServeMux()
	writeUser := func(w http.ResponseWriter, u *anonymous.User) {
		body := map[string]any{"userId": ""}
		if u != nil {
			body = userJSON(u)
		}
		WriteJSON(w, http.StatusOK, body)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, _ := anonymous.FromContext(r.Context())
		writeUser(w, u)
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		u, ok := anonymous.FromContext(r.Context())
		status, body := WhoAmI(r, u, ok)
		WriteJSON(w, status, body)
	})
	mux.HandleFunc("/cached", func(w http.ResponseWriter, r *http.Request) {
		// An answer the handler means shared caches to keep: written at
		// once (WriteJSON), after a flush, or by io.Copy (?write=).
		h := w.Header()
		h.Set("Cache-Control", CachedControl)
		h.Set("CDN-Cache-Control", "max-age=600")
		h.Set("Surrogate-Control", "max-age=600")
		u, _ := anonymous.FromContext(r.Context())
		body := map[string]any{"userId": ""}
		if u != nil {
			body = userJSON(u)
		}
		switch r.URL.Query().Get("write") {
		case "flush":
			h.Set("Content-Type", "application/json")
			if err := http.NewResponseController(w).Flush(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_ = json.NewEncoder(w).Encode(body)
		case "copy":
			data, _ := json.Marshal(body)
			h.Set("Content-Type", "application/json")
			_, _ = io.Copy(w, bytes.NewReader(data))
		default:
			WriteJSON(w, http.StatusOK, body)
		}
	})
	mux.HandleFunc("/ensure", func(w http.ResponseWriter, r *http.Request) {
		u, err := m.Ensure(w, r)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if u == nil {
			WriteJSON(w, http.StatusUnauthorized, noUser)
			return
		}
		WriteJSON(w, http.StatusOK, userJSON(u))
	})
	mux.Handle("/convert/start", m.ConvertStartHandler())
	mux.Handle("/convert/verify", m.ConvertVerifyHandler())
	mux.Handle("/convert/link/start", m.ConvertLinkStartHandler())
	mux.Handle("/convert/link/verify", m.ConvertLinkVerifyHandler())
	mux.Handle("/convert/oauth/start", m.ConvertOAuthStartHandler())
	mux.Handle("/convert/oauth/finish", m.ConvertOAuthFinishHandler())
	mux.Handle("/convert/passkey/start", m.ConvertPasskeyStartHandler())
	mux.Handle("/convert/passkey/finish", m.ConvertPasskeyFinishHandler())
	mux.Handle("/convert/complete", m.ConvertCompleteHandler())
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	fail := func(w http.ResponseWriter, err error) {
		convs.Add(err)
		http.Error(w, err.Error(), anonymous.ErrorStatus(err))
	}
	mux.HandleFunc("POST /x/start", func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.StartConversion(r, r.URL.Query().Get("addr")); err != nil {
			fail(w, err)
			return
		}
		u, _ := anonymous.FromContext(r.Context())
		writeUser(w, u)
	})
	mux.HandleFunc("POST /x/verify", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		u, err := m.FinishConversion(w, r, q.Get("addr"), q.Get("code"))
		if err != nil {
			fail(w, err)
			return
		}
		writeUser(w, u)
	})
	mux.HandleFunc("POST /x/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			convs.Add(err)
		}
		writeUser(w, nil)
	})
	mux.HandleFunc("POST /x/promote", func(w http.ResponseWriter, r *http.Request) {
		promote := m.Promote
		if to := r.URL.Query().Get("to"); to != "" {
			i := slices.IndexFunc(Strategies, func(s anonymous.Strategy) bool { return s.String() == to })
			if i < 0 {
				http.Error(w, "no strategy "+to, http.StatusBadRequest)
				return
			}
			promote = func(w http.ResponseWriter, r *http.Request) (*anonymous.User, error) {
				return m.PromoteTo(w, r, Strategies[i])
			}
		}
		u, err := promote(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		writeUser(w, u)
	})
	return mux
}

// WhoAmI is the answer of a framework's own GET /whoami handler, given what
// the framework's way of reading the user returned (u, ok) and its request:
// the user as App answers it, 401 without one, and 500 when the framework
// and anonymous.FromContext disagree. The handler writes it as JSON.
func WhoAmI(r *http.Request, u *anonymous.User, ok bool) (status int, body map[string]any) {
	if fromCtx, ok2 := anonymous.FromContext(r.Context()); ok != ok2 || u != fromCtx {
		return http.StatusInternalServerError, map[string]any{"error": "the framework and FromContext disagree"}
	}
	if !ok {
		return http.StatusUnauthorized, noUser
	}
	return http.StatusOK, userJSON(u)
}

// noUser is the answer without a user.
var noUser = map[string]any{"error": "no user"}

// userJSON is how App and WhoAmI answer with a user.
func userJSON(u *anonymous.User) map[string]any {
	return map[string]any{"userId": u.ID, "anonymous": u.Anonymous, "new": u.New, "refreshed": u.Refreshed,
		"degraded": u.Degraded, "loginIds": u.LoginIDs}
}

// WriteJSON answers with status and body as JSON.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
