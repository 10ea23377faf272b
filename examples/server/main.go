// Command server is a small web application on the anonymous middleware:
// every visitor gets an anonymous Descope user at once, keeps notes under its
// user ID, and can turn it into a regular account by email code without
// losing them, because the user ID stays the same.
//
// Without DESCOPE_PROJECT_ID it runs against an embedded Descope emulator, so
// it needs no account and no network:
//
//	make example          (from the repository's root; or: cd examples/server && go run .)
//
// then open the URL it logs. With a real project:
//
//	DESCOPE_PROJECT_ID=P... DESCOPE_MANAGEMENT_KEY=K... go run .
//
// With REDIS_URL, the middleware's state (refreshes, limits, pending
// conversions) and the notes live in Redis, so that several replicas of the
// server, against one Descope project, are one application:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 DESCOPE_PROJECT_ID=P... DESCOPE_MANAGEMENT_KEY=K... go run .
//
// Flags (each with an environment fallback):
//
//	-addr         listen address (ADDR, default 127.0.0.1:8080; port 0 picks a free one)
//	-session-ttl  anonymous session token lifetime (ANON_SESSION_TTL, default 10m)
//	-lifetime     anonymous refresh token lifetime (ANON_LIFETIME, default 8760h)
//	-redis-url    Redis for shared state and notes (REDIS_URL, default none: in memory)
//
// It is a module of its own, so that the library's go.mod needs no Redis
// client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/descope/go-sdk/descope/client"
	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/redisstore"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	addr          string
	sessionTTL    time.Duration
	lifetime      time.Duration
	projectID     string // empty: run the embedded emulator
	managementKey string
	baseURL       string
	redisURL      string // empty: state and notes in memory
}

// parseConfig reads the flags in args; each flag defaults to its environment
// variable, read through getenv, and then to the built-in default.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	cfg := config{
		projectID:     getenv("DESCOPE_PROJECT_ID"),
		managementKey: getenv("DESCOPE_MANAGEMENT_KEY"),
		baseURL:       getenv("DESCOPE_BASE_URL"),
	}
	sessionTTL, err := envDuration(getenv, "ANON_SESSION_TTL", 10*time.Minute)
	if err != nil {
		return cfg, err
	}
	lifetime, err := envDuration(getenv, "ANON_LIFETIME", 365*24*time.Hour)
	if err != nil {
		return cfg, err
	}
	cfg.redisURL = getenv("REDIS_URL")
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", addr, "listen `address` (env ADDR); port 0 picks a free port")
	fs.DurationVar(&cfg.sessionTTL, "session-ttl", sessionTTL, "anonymous session token lifetime (env ANON_SESSION_TTL)")
	fs.DurationVar(&cfg.lifetime, "lifetime", lifetime, "anonymous refresh token lifetime (env ANON_LIFETIME)")
	fs.StringVar(&cfg.redisURL, "redis-url", cfg.redisURL, "Redis `URL` for shared state and notes, e.g. redis://127.0.0.1:6379/0 (env REDIS_URL); none keeps them in memory")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, nil
}

func envDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// run serves the application until ctx is cancelled, then shuts down
// gracefully.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	a, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("serving", "url", displayURL(ln.Addr()))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// app is the application build returns.
type app struct {
	// Handler serves the page and the JSON API behind the middleware.
	Handler http.Handler
	// Emulator is the embedded Descope emulator; nil against real Descope.
	Emulator *descopetest.Emulator
	// Redis is the client of REDIS_URL; nil without it.
	Redis *redis.Client
}

// Close stops the embedded emulator and closes the Redis client, if any.
func (a *app) Close() {
	if a.Emulator != nil {
		a.Emulator.Close()
	}
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
}

// build connects to Descope (or starts the embedded emulator when no project
// ID is configured), builds the middleware, checks that it can resolve its
// anonymous tenant, and returns the application's handler.
func build(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	a := &app{}
	var (
		c   *client.DescopeClient
		err error
	)
	if cfg.projectID == "" {
		// Seconds mode lets the anonymous tenant take a session TTL that is
		// not whole minutes (such as 3s, to watch refreshes happen).
		a.Emulator = descopetest.New(descopetest.WithSecondsUnit())
		logger.Info("no DESCOPE_PROJECT_ID: using the embedded Descope emulator",
			"emulator", a.Emulator.URL, "project", a.Emulator.ProjectID)
		c, err = a.Emulator.Client()
	} else {
		c, err = client.NewWithConfig(&client.Config{
			ProjectID:      cfg.projectID,
			ManagementKey:  cfg.managementKey,
			DescopeBaseURL: cfg.baseURL,
		})
	}
	if err != nil {
		a.Close()
		return nil, err
	}

	opts := []anonymous.Option{
		anonymous.WithSessionTTL(cfg.sessionTTL),
		anonymous.WithLifetime(cfg.lifetime),
		anonymous.WithLogger(logger),
		// Logging out and reading the dev outbox need no identity: do not
		// create one for them.
		anonymous.WithSkip(func(r *http.Request) bool {
			return r.URL.Path == "/api/logout" || r.URL.Path == "/dev/otp"
		}),
	}
	if a.Emulator != nil {
		// The embedded emulator accepts lifetimes in seconds, under Descope's
		// 3-minute minimum.
		opts = append(opts, anonymous.WithEmulatorLifetimes())
	}
	var ns notes = newNoteStore()
	if cfg.redisURL != "" {
		rdb, err := openRedis(ctx, cfg.redisURL)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.Redis = rdb
		store, err := redisstore.New(rdb)
		if err != nil {
			a.Close()
			return nil, err
		}
		opts = append(opts, anonymous.WithStore(store))
		ns = redisNotes{c: rdb}
		logger.Info("state and notes in Redis", "redis", rdb.Options().Addr, "db", rdb.Options().DB)
		if a.Emulator != nil {
			logger.Warn("REDIS_URL with the embedded emulator: each process has a Descope of its own; " +
				"for replicas, point them all at one (DESCOPE_BASE_URL, e.g. cmd descope-emulator)")
		}
	}
	if isLoopback(cfg.addr) {
		// This server speaks plain http, and a browser drops Secure cookies
		// that arrive over http from anywhere but localhost. On loopback,
		// for development, send them without Secure. On any other address
		// the cookies stay Secure: put a TLS-terminating proxy in front.
		opts = append(opts, anonymous.WithCookieSecure(false))
	} else {
		logger.Warn("cookies are Secure: serve this over https (behind a TLS proxy)", "addr", cfg.addr)
	}
	anon, err := anonymous.New(c, opts...)
	if err != nil {
		a.Close()
		return nil, err
	}
	initCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := anon.Init(initCtx); err != nil {
		a.Close()
		return nil, fmt.Errorf("resolve the anonymous tenant (check the Descope credentials): %w", err)
	}
	a.Handler = newHandler(anon, a.Emulator, ns, logger)
	return a, nil
}

// openRedis connects to the Redis server of a redis:// (or rediss://) URL
// and checks that it answers: a server that is down later costs no visitor
// its identity, but one that is misconfigured from the start is reported at
// once. Each call is bounded by its context, so the middleware's store
// timeout holds.
func openRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("REDIS_URL: %s does not answer: %w", opts.Addr, err)
	}
	return rdb, nil
}

// isLoopback reports whether a listen address only accepts local
// connections. An empty host (":8080") listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// displayURL is the URL to open for a listener's address.
func displayURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
