// Command descope-emulator serves an in-process emulation of the Descope HTTP
// API (package github.com/descope-contrib/anonymous/descopetest) on a TCP
// address, for manual testing and for tests that cannot embed the emulator.
//
// Usage:
//
//	descope-emulator [-addr 127.0.0.1:4000] [-project-id P…] [-management-key K…]
//	                 [-session-ttl 10m] [-refresh-ttl 672h] [-rotate] [-seconds-unit] [-rate-limits]
//	                 [-allowed-origin https://app.example.com]…
//	                 [-magic-link-ttl 5m] [-magic-link-uri URL] [-oauth-update-conflict return-existing]
//	                 [-passkey-domain example.com]
//
// Once listening it prints one line to standard output,
//
//	descope emulator listening on http://127.0.0.1:4000 project=P… key=K…
//
// and logs requests to standard error. It stops gracefully on SIGINT or
// SIGTERM. With -addr 127.0.0.1:0 it picks a free port and prints it.
//
// Pages on any loopback origin may call its authentication API from the
// browser (CORS with credentials, as Descope's web SDKs need); each
// -allowed-origin adds another origin.
//
// Point the go-sdk at it with client.Config{ProjectID: "P…", ManagementKey: "K…",
// DescopeBaseURL: "http://127.0.0.1:4000"}. One-time codes it "sends" can be
// read at GET /emulator/v1/outbox?address=…, magic links at
// GET /emulator/v1/outbox/link?address=…; OAuth authorize calls answer the
// URL of the emulated provider page, /emulator/v1/oauth/authorize?state=….
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/cli"
)

// errUsage reports a command line that parseFlags refused.
var errUsage = errors.New("descope-emulator: bad command line")

// main runs the command; see run.
func main() { cli.Main(run) }

// run serves until ctx is done and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	addr, opts, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	return serve(ctx, addr, opts, stdout, stderr)
}

// parseFlags reads the command line: the address to listen on and the
// emulator's options. What is wrong with it goes to stderr; the error is
// flag.ErrHelp for -h and -help, errUsage or the flag package's for a bad
// command line.
func parseFlags(args []string, stderr io.Writer) (string, []descopetest.Option, error) {
	fs := cli.NewFlagSet("descope-emulator", stderr)
	addr := fs.String("addr", "127.0.0.1:4000", "TCP `address` to listen on; port 0 picks a free port")
	projectID := fs.String("project-id", "", "project `ID` (random when empty)")
	key := fs.String("management-key", "", "management `key` (random when empty)")
	sessionTTL := fs.Duration("session-ttl", descopetest.DefaultSessionTTL, "project default session token lifetime")
	refreshTTL := fs.Duration("refresh-ttl", descopetest.DefaultRefreshTTL, "project default refresh token lifetime")
	rotate := fs.Bool("rotate", false, "rotate refresh tokens on every refresh")
	reuse := fs.Bool("reuse-detection", true, "with -rotate, presenting a rotated-out refresh token revokes its whole session")
	secondsUnit := fs.Bool("seconds-unit", false, `accept the unit "seconds" in tenant session settings`)
	rateLimits := fs.Bool("rate-limits", false, "enforce Descope's management rate limits")
	var origins []string
	fs.Func("allowed-origin", "a browser `origin` (scheme://host[:port]) whose pages may call the authentication API, besides loopback ones; repeatable",
		func(s string) error {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("%q is not an origin such as https://app.example.com", s)
			}
			origins = append(origins, s)
			return nil
		})
	linkTTL := fs.Duration("magic-link-ttl", descopetest.DefaultMagicLinkTTL, "how long a magic link stays valid")
	linkURI := fs.String("magic-link-uri", "", "the project's magic link `URL`, for calls that send none")
	conflict := fs.String("oauth-update-conflict", string(descopetest.OAuthConflicts[0]),
		"what OAuth authorize/update does with another user's provider account: "+conflictModes())
	passkeyDomain := fs.String("passkey-domain", "", "the WebAuthn relying party `domain` (default: the host of each origin)")
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "descope-emulator: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return "", nil, errUsage
	}
	if *sessionTTL <= 0 || *refreshTTL <= 0 || *linkTTL <= 0 {
		fmt.Fprintln(stderr, "descope-emulator: -session-ttl, -refresh-ttl and -magic-link-ttl must be positive")
		return "", nil, errUsage
	}
	mode := descopetest.OAuthConflict(*conflict)
	if !slices.Contains(descopetest.OAuthConflicts, mode) {
		fmt.Fprintf(stderr, "descope-emulator: -oauth-update-conflict %q: use one of %s\n", *conflict, conflictModes())
		return "", nil, errUsage
	}

	opts := []descopetest.Option{
		descopetest.WithProjectID(*projectID),
		descopetest.WithManagementKey(*key),
		descopetest.WithSessionTTL(*sessionTTL),
		descopetest.WithRefreshTTL(*refreshTTL),
	}
	if *rotate {
		opts = append(opts, descopetest.WithRefreshRotation())
	}
	opts = append(opts, descopetest.WithRefreshReuseDetection(*reuse))
	if *secondsUnit {
		opts = append(opts, descopetest.WithSecondsUnit())
	}
	if *rateLimits {
		opts = append(opts, descopetest.WithRateLimits())
	}
	if len(origins) > 0 {
		opts = append(opts, descopetest.WithAllowedOrigins(origins...))
	}
	opts = append(opts,
		descopetest.WithMagicLinkTTL(*linkTTL),
		descopetest.WithMagicLinkURI(*linkURI),
		descopetest.WithOAuthUpdateConflict(mode),
		descopetest.WithPasskeyDomain(*passkeyDomain),
	)
	return *addr, opts, nil
}

// conflictModes lists the OAuthConflict modes for the usage text.
func conflictModes() string {
	names := make([]string, len(descopetest.OAuthConflicts))
	for i, m := range descopetest.OAuthConflicts {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// serve runs an emulator with opts on addr until ctx is done, and returns
// the exit code.
func serve(ctx context.Context, addr string, opts []descopetest.Option, stdout, stderr io.Writer) int {
	logger := log.New(stderr, "descope-emulator: ", log.LstdFlags|log.Lmicroseconds)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Print(err)
		return 1
	}
	emu := descopetest.NewHandler(opts...)
	emu.URL = "http://" + ln.Addr().String()
	srv := &http.Server{
		Handler:           logRequests(emu.Handler(), logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "descope emulator listening on %s project=%s key=%s\n", emu.URL, emu.ProjectID, emu.ManagementKey)

	select {
	case err := <-serveErr:
		logger.Printf("serving: %v", err)
		return 1
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	emu.Close() // releases requests held by latency faults
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		logger.Printf("shutting down: %v", err)
		return 1
	}
	return 0
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status written and passes it on.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs each request h serves, with its status and duration.
func logRequests(h http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			logger.Printf("%s %s %d %v", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond))
		}()
		h.ServeHTTP(rec, r)
	})
}
