package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// bareBody is what the handler answers when no middleware identified the
// visitor.
var bareBody = []byte(`{"anonymous":false}` + "\n")

// appHandler is the application both servers run: a small JSON answer with
// the visitor's user ID (see reply), or bareBody without one. It builds the
// body by hand: the handler's own cost should not hide the middleware's.
func appHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		u, ok := anonymous.FromContext(r.Context())
		if !ok {
			_, _ = w.Write(bareBody)
			return
		}
		b := make([]byte, 0, 128)
		b = append(b, `{"userId":`...)
		b = appendJSONString(b, u.ID)
		b = append(b, `,"anonymous":`...)
		b = strconv.AppendBool(b, u.Anonymous)
		if u.New {
			b = append(b, `,"new":true`...)
		}
		if u.Refreshed {
			b = append(b, `,"refreshed":true`...)
		}
		_, _ = w.Write(append(b, "}\n"...))
	})
}

// appendJSONString appends s as a JSON string. Descope user IDs need no
// escaping; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// servers are the emulator and the two servers the clients load.
type servers struct {
	emu        *descopetest.Emulator
	httpd      []*http.Server
	wrappedURL string // the handler behind the middleware
	bareURL    string // the handler alone
}

// startServers starts the emulator (in seconds mode, so the session TTL may
// be a few seconds), a middleware whose anonymous tenant is resolved, and
// the two servers on 127.0.0.1.
func startServers(ctx context.Context, sessionTTL time.Duration) (s *servers, err error) {
	s = &servers{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	labeled(ctx, "emulator", func(context.Context) {
		s.emu = descopetest.New(descopetest.WithSecondsUnit())
	})
	c, err := s.emu.Client()
	if err != nil {
		return s, err
	}
	m, err := anonymous.New(c,
		anonymous.WithCookieSecure(false),
		anonymous.WithClientRateLimit(0, 0),
		anonymous.WithGlobalRateLimit(0, 0),
		anonymous.WithSessionTTL(sessionTTL),
		anonymous.WithEmulatorLifetimes(), // the embedded emulator runs in seconds mode
	)
	if err != nil {
		return s, err
	}
	if err := m.Init(ctx); err != nil {
		return s, err
	}
	app := appHandler()
	if s.wrappedURL, err = s.serve(ctx, "server-wrapped", m.Handler(app)); err != nil {
		return s, err
	}
	if s.bareURL, err = s.serve(ctx, "server-bare", app); err != nil {
		return s, err
	}
	return s, nil
}

// serve serves h on a free port of 127.0.0.1 and returns its URL. Its
// goroutines carry the profiler label side=side.
func (s *servers) serve(ctx context.Context, side string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.httpd = append(s.httpd, srv)
	go labeled(ctx, side, func(context.Context) {
		// Serve returns ErrServerClosed after close; any other end shows in
		// the clients' error count.
		_ = srv.Serve(ln)
	})
	return "http://" + ln.Addr().String() + "/", nil
}

func (s *servers) close() {
	for _, srv := range s.httpd {
		srv.Close()
	}
	if s.emu != nil {
		s.emu.Close()
	}
}
