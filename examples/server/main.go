// Command server is a small web application on the anonymous middleware:
// every visitor gets an anonymous Descope user at once, keeps notes under its
// user ID, and can turn it into a regular account by email code, magic
// link or passkey without losing them, because the user ID stays the same
// (or by social login, which signs up a new user the notes move to). A
// returning customer's address (or passkey name) signs it in to its
// account from the same box.
//
// Without DESCOPE_PROJECT_ID it runs against an embedded Descope emulator, so
// it needs no account and no network:
//
//	make example          (from the repository's root; or: go run ./examples/server)
//
// then open the URL it logs. With a real project:
//
//	DESCOPE_PROJECT_ID=P... DESCOPE_MANAGEMENT_KEY=K... go run ./examples/server
//
// With REDIS_URL, the middleware's state (refreshes, limits, pending
// conversions) and the notes live in Redis, so that several replicas of the
// server, against one Descope project, are one application:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 DESCOPE_PROJECT_ID=P... DESCOPE_MANAGEMENT_KEY=K... go run ./examples/server
//
// Flags (each with an environment fallback):
//
//	-addr         listen address (ADDR, default 127.0.0.1:8080; port 0 picks a free one)
//	-admin-addr   listen address of /metrics, /api/funnel and /healthz
//	              (ADMIN_ADDR, default 127.0.0.1:9464; "off" serves them nowhere)
//	-session-ttl  anonymous session token lifetime (ANON_SESSION_TTL, default 10m)
//	-lifetime     anonymous refresh token lifetime (ANON_LIFETIME, default 8760h)
//	-strategy     how new visitors get an identity: user-backed, native or local
//	              (ANON_STRATEGY, default user-backed)
//	-redis-url    Redis for shared state and notes (REDIS_URL, default none: in memory)
//	-emulator-lifetimes
//	              accept -session-ttl and -lifetime under Descope's 3-minute minimum,
//	              in seconds, from an emulator at DESCOPE_BASE_URL
//	              (ANON_EMULATOR_LIFETIMES=1; always on with the embedded emulator)
//	-public-url   the address visitors open (PUBLIC_URL, default the listen
//	              address's URL): magic links open <it>/convert/link, social
//	              logins return to <it>/convert/oauth, and its pages may add
//	              a passkey (unless its host is an IP address; on a loopback
//	              listen address, http://localhost:<port> may too by default)
//	-returning    a conversion for a registered address signs the visitor in to
//	              that account (ANON_RETURNING, default true); false answers 409
//	-merge        a returning customer's notes move into the account and its
//	              anonymous user is deleted at once (ANON_MERGE=1, default off)
//
// Several replicas against one emulator command, watching sessions refresh
// every few seconds:
//
//	descope-emulator -addr 127.0.0.1:4000 -rotate -seconds-unit -project-id Pdemo -management-key Kdemo
//	DESCOPE_BASE_URL=http://127.0.0.1:4000 DESCOPE_PROJECT_ID=Pdemo DESCOPE_MANAGEMENT_KEY=Kdemo \
//	    REDIS_URL=redis://127.0.0.1:6379/0 ANON_EMULATOR_LIFETIMES=1 ANON_SESSION_TTL=5s go run ./examples/server -addr 127.0.0.1:8081
//
// With -strategy local, the local ID cookie is sealed by ANON_LOCAL_KEY (at
// least 32 bytes, hex or base64; read only from the environment). Against
// the embedded emulator a random key is made at start when it is unset.
//
// It is a module of its own, so that the library's go.mod needs neither a
// Redis client nor OpenTelemetry.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
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
	adminAddr     string // "": the admin routes are served nowhere
	sessionTTL    time.Duration
	lifetime      time.Duration
	projectID     string // empty: run the embedded emulator
	managementKey string
	baseURL       string
	strategy      anonymous.Strategy
	localKey      []byte // the key of -strategy local; nil: a random one (emulator only)
	redisURL      string // empty: state and notes in memory
	storeTimeout  time.Duration
	// emulatorLifetimes lets lifetimes go under Descope's 3-minute minimum
	// against an emulator at baseURL (the embedded one always allows them).
	emulatorLifetimes bool
	// publicURL is the origin (and path prefix) visitors open, without a
	// trailing slash; "": run sets the listen address's URL
	// (http://localhost:<port> on loopback). Magic links and social logins
	// come back to pages under it, and its origin may convert by passkey.
	publicURL string
	// noReturning refuses a conversion to a registered address (409)
	// instead of signing the visitor in to it (-returning=false).
	noReturning bool
	// merge moves a returning customer's notes with the merge hook and
	// deletes its anonymous user (-merge).
	merge bool
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
	storeTimeout, err := envDuration(getenv, "ANON_STORE_TIMEOUT", 100*time.Millisecond)
	if err != nil {
		return cfg, err
	}
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	adminAddr := getenv("ADMIN_ADDR")
	if adminAddr == "" {
		// Loopback only; 9464 is the port OpenTelemetry's Prometheus
		// exporters listen on by default (OTEL_EXPORTER_PROMETHEUS_PORT).
		adminAddr = "127.0.0.1:9464"
	}
	strategy := getenv("ANON_STRATEGY")
	if strategy == "" {
		strategy = anonymous.UserBacked.String()
	}
	if s := getenv("ANON_LOCAL_KEY"); s != "" {
		if cfg.localKey, err = decodeKey(s); err != nil {
			return cfg, fmt.Errorf("ANON_LOCAL_KEY: %w", err)
		}
	}
	if s := getenv("ANON_EMULATOR_LIFETIMES"); s != "" {
		if cfg.emulatorLifetimes, err = strconv.ParseBool(s); err != nil {
			return cfg, fmt.Errorf("ANON_EMULATOR_LIFETIMES: %q is not a boolean (1 or 0)", s)
		}
	}
	returning := true
	if s := getenv("ANON_RETURNING"); s != "" {
		if returning, err = strconv.ParseBool(s); err != nil {
			return cfg, fmt.Errorf("ANON_RETURNING: %q is not a boolean (1 or 0)", s)
		}
	}
	if s := getenv("ANON_MERGE"); s != "" {
		if cfg.merge, err = strconv.ParseBool(s); err != nil {
			return cfg, fmt.Errorf("ANON_MERGE: %q is not a boolean (1 or 0)", s)
		}
	}
	publicURL := getenv("PUBLIC_URL")
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", addr, "listen `address` (env ADDR); port 0 picks a free port")
	fs.StringVar(&adminAddr, "admin-addr", adminAddr, "listen `address` of /metrics, /api/funnel and /healthz (env ADMIN_ADDR); \"off\" serves them nowhere")
	fs.DurationVar(&cfg.sessionTTL, "session-ttl", sessionTTL, "anonymous session token lifetime (env ANON_SESSION_TTL)")
	fs.DurationVar(&cfg.lifetime, "lifetime", lifetime, "anonymous refresh token lifetime (env ANON_LIFETIME)")
	fs.StringVar(&strategy, "strategy", strategy, "how new visitors get an identity: user-backed, native or local (env ANON_STRATEGY)")
	fs.DurationVar(&cfg.storeTimeout, "store-timeout", storeTimeout, "bound on each Redis call of the middleware, after which a replica goes on with local state for a while (env ANON_STORE_TIMEOUT)")
	fs.StringVar(&cfg.redisURL, "redis-url", cfg.redisURL, "Redis `URL` for shared state and notes, e.g. redis://127.0.0.1:6379/0 (env REDIS_URL); none keeps them in memory")
	fs.BoolVar(&cfg.emulatorLifetimes, "emulator-lifetimes", cfg.emulatorLifetimes,
		"accept lifetimes under 3 minutes, in seconds, from the emulator at DESCOPE_BASE_URL (env ANON_EMULATOR_LIFETIMES=1); start descope-emulator with -seconds-unit")
	fs.StringVar(&publicURL, "public-url", publicURL, "the `URL` visitors open, e.g. https://notes.example.com (env PUBLIC_URL); magic links open <URL>/convert/link, social logins return to <URL>/convert/oauth, and its pages may add passkeys (unless its host is an IP address); default: the listen address's, http://localhost:<port> on loopback")
	fs.BoolVar(&returning, "returning", returning, "a conversion to a registered address signs the visitor in to that account (env ANON_RETURNING); false answers 409")
	fs.BoolVar(&cfg.merge, "merge", cfg.merge, "a returning customer's notes move into the account and its anonymous user is deleted (env ANON_MERGE=1)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.noReturning = !returning
	if cfg.merge && cfg.noReturning {
		return cfg, errors.New("-merge signs returning customers in: it cannot go with -returning=false")
	}
	if publicURL != "" {
		if cfg.publicURL, err = parsePublicURL(publicURL); err != nil {
			return cfg, err
		}
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.strategy, err = parseStrategy(strategy); err != nil {
		return cfg, err
	}
	if adminAddr != "off" {
		cfg.adminAddr = adminAddr
	}
	if cfg.emulatorLifetimes && cfg.projectID != "" && cfg.baseURL == "" {
		return cfg, errors.New("-emulator-lifetimes needs an emulator: set DESCOPE_BASE_URL to a descope-emulator started with -seconds-unit (real Descope refuses lifetimes under 3 minutes)")
	}
	return cfg, nil
}

// parsePublicURL checks the URL visitors open: absolute http(s), without a
// query, fragment or user; the path (a prefix behind a proxy) loses its
// trailing slash.
func parsePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("-public-url %q: want an absolute http(s) URL without query, fragment or user, e.g. https://notes.example.com", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// parseStrategy reads a strategy by its String name.
func parseStrategy(s string) (anonymous.Strategy, error) {
	for _, st := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs} {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown strategy %q: use user-backed, native or local", s)
}

// decodeKey reads a key written in hex or in base64 (standard or URL
// alphabet, padded or not).
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("neither hex nor base64")
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
// gracefully. The admin routes are served on an address of their own.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var adminLn net.Listener
	if cfg.adminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.adminAddr); err != nil {
			return fmt.Errorf("admin address: %w", err)
		}
		defer adminLn.Close()
	}
	cfg.listening(ln.Addr())
	a, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	public := newServer(a.Handler)
	servers := []*http.Server{public}
	served := make(chan error, 2)
	go func() { served <- public.Serve(ln) }()
	if adminLn != nil {
		admin := newServer(a.Admin)
		servers = append(servers, admin)
		go func() { served <- admin.Serve(adminLn) }()
		if !isLoopback(cfg.adminAddr) {
			logger.Warn("the admin routes answer anyone who can reach their address", "admin", cfg.adminAddr)
		}
		logger.Info("admin", "url", displayURL(adminLn.Addr()), "routes", "/metrics /api/funnel /healthz")
	} else {
		logger.Info("admin routes off: no /metrics, /api/funnel or /healthz")
	}
	logger.Info("serving", "url", cfg.publicURL)

	select {
	case err := <-served:
		for _, srv := range servers {
			_ = srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(shutdownCtx))
	}
	return errors.Join(errs...)
}

// app is the application build returns.
type app struct {
	// Handler serves the page and the JSON API behind the middleware.
	Handler http.Handler
	// Admin serves /metrics, /api/funnel and /healthz, for the operator.
	Admin http.Handler
	// Emulator is the embedded Descope emulator; nil against real Descope.
	Emulator *descopetest.Emulator
	// telemetry holds the metrics /metrics serves.
	telemetry *telemetry
	// Redis is the client of REDIS_URL; nil without it.
	Redis *redis.Client
	// site is the application's state, for tests.
	site *site
}

// Close stops the embedded emulator, the metrics and the Redis client, if any.
func (a *app) Close() {
	if a.Emulator != nil {
		a.Emulator.Close()
	}
	if a.telemetry != nil {
		_ = a.telemetry.Close()
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
		// Descope's documented rate limits on, as in a real project: the
		// create budget of 100 a minute is what overflow is for.
		emuOpts := []descopetest.Option{descopetest.WithSecondsUnit(), descopetest.WithRateLimits()}
		if host := publicHost(cfg.publicURL); host != "" {
			// Descope sends magic links only to the project's approved
			// domains (OpenAPI, magic link endpoints: the URI "should be
			// part of the allowed Approved Domains"): this server's is.
			emuOpts = append(emuOpts, descopetest.WithApprovedDomains(host))
		}
		a.Emulator = descopetest.New(emuOpts...)
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

	// Anonymous users' notes live as long as an anonymous identity: the
	// lifetime the middleware gives the anonymous tenant's refresh tokens.
	var ns notes = newNoteStore(cfg.lifetime, time.Now) // in Redis with REDIS_URL, below
	var anon *anonymous.Middleware
	profiles := newProfiles(func(ctx context.Context, u *anonymous.User) ([]string, error) {
		p, err := anon.LoadUser(ctx, u)
		if err != nil {
			return nil, err
		}
		return p.LoginIDs, nil
	})
	a.telemetry, err = newTelemetry()
	if err != nil {
		a.Close()
		return nil, err
	}
	opts := []anonymous.Option{
		a.telemetry.inst.Option(), // the middleware's events become metrics
		anonymous.WithSessionTTL(cfg.sessionTTL),
		anonymous.WithLifetime(cfg.lifetime),
		anonymous.WithLogger(logger),
		anonymous.WithStrategy(cfg.strategy),
		// Native and local visitors change ID when they convert (and when
		// promoted): their notes follow them. A converted user's notes are
		// kept from now on (a user-backed one keeps its ID), and its login
		// IDs are known without loading its profile.
		anonymous.WithOnConvert(func(ctx context.Context, anonymousID string, u *anonymous.User) error {
			if !u.Anonymous && len(u.LoginIDs) > 0 {
				profiles.put(u.ID, u.LoginIDs)
			}
			return ns.move(ctx, anonymousID, u.ID, u.Anonymous)
		}),
		// Logging out and reading the dev outbox need no identity: do not
		// create one for them.
		anonymous.WithSkipProvision(func(r *http.Request) bool {
			return r.URL.Path == "/api/logout" || r.URL.Path == "/dev/otp" || r.URL.Path == "/dev/outbox"
		}),
	}
	if cfg.publicURL != "" {
		// The pages a magic link opens and a social login returns to. On
		// a real project, their host must be an approved domain.
		opts = append(opts,
			anonymous.WithLinkURLs(cfg.publicURL+linkPage),
			anonymous.WithOAuthRedirectURLs(cfg.publicURL+oauthPage))
	}
	// The pages that may add a passkey. On a real project each must be an
	// allowed origin of its passkey settings.
	if origins := passkeyOrigins(cfg.publicURL); len(origins) > 0 {
		opts = append(opts, anonymous.WithPasskeyOrigins(origins...))
		logger.Info("passkeys", "origins", strings.Join(origins, " "))
	} else {
		logger.Info("passkeys off: browsers allow them only on a domain name, over https or on http://localhost", "public_url", cfg.publicURL)
	}
	if cfg.noReturning {
		opts = append(opts, anonymous.WithReturningCustomers(false))
	}
	if cfg.merge {
		// A returning customer's notes move into its account; then the
		// middleware deletes the anonymous user. Without -merge, the
		// OnConvert hook above moves them, and the anonymous user is left
		// for Cull.
		opts = append(opts, anonymous.WithMerge(func(ctx context.Context, anon, existing *anonymous.User) error {
			if len(existing.LoginIDs) > 0 {
				profiles.put(existing.ID, existing.LoginIDs)
			}
			return ns.move(ctx, anon.ID, existing.ID, false)
		}))
	}
	if a.Emulator != nil || cfg.emulatorLifetimes {
		// The embedded emulator, and an emulator command started with
		// -seconds-unit, accept lifetimes in seconds, under Descope's
		// 3-minute minimum.
		opts = append(opts, anonymous.WithEmulatorLifetimes())
	}
	// The key of local IDs: the LocalIDs strategy's, and the overflow
	// identities' of the others (a new visitor who arrives while Descope's
	// create budget is spent gets a local ID, at no call). Against real
	// Descope without a key, overflow visitors get native tokens instead.
	if key := cfg.localKey; key != nil || cfg.strategy == anonymous.LocalIDs || a.Emulator != nil {
		if key == nil {
			if a.Emulator == nil {
				a.Close()
				return nil, errors.New("-strategy local needs ANON_LOCAL_KEY (32 random bytes or more, hex or base64), the same on every replica")
			}
			key = make([]byte, 32)
			_, _ = rand.Read(key)
			logger.Info("no ANON_LOCAL_KEY: local ID cookies are sealed by a random key and will not survive a restart")
		}
		opts = append(opts, anonymous.WithLocalKeys(key))
	}
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
		if cfg.storeTimeout > 0 {
			opts = append(opts, anonymous.WithStoreTimeout(cfg.storeTimeout))
		}
		ns = redisNotes{c: rdb, ttl: cfg.lifetime}
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
	anon, err = anonymous.New(c, opts...)
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
	a.site = &site{anon: anon, emu: a.Emulator, notes: ns, profiles: profiles, tel: a.telemetry, logger: logger}
	a.Handler, a.Admin = a.site.handler(), a.site.adminHandler()
	logger.Info("anonymous middleware ready", "strategy", cfg.strategy)
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

// publicHost is the host name of a public URL, "" when there is none.
func publicHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
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

// listening sets the public URL, when none is configured, from the address
// the server listens on, known only now (port 0). On a loopback address it
// is http://localhost:<port>, not http://127.0.0.1:<port>: browsers refuse
// passkeys on an IP address, and a magic link or a social login must come
// back to the very name the visitor opened (another name of the host finds
// other cookies), so every method works at one URL.
func (c *config) listening(addr net.Addr) {
	if c.publicURL != "" {
		return
	}
	c.publicURL = displayURL(addr)
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		c.publicURL = "http://" + net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
	}
}

// passkeyOrigins returns the origins, as browsers send them in the Origin
// header (lower case, no default port, no path), of the URLs whose pages
// may convert by passkey (anonymous.WithPasskeyOrigins), leaving out those
// whose host is an IP address: a browser refuses passkeys on a page whose
// effective domain is not a valid domain (W3C Web Authentication Level 2,
// §5.1.3 and §5.1.4, "If effectiveDomain is not a valid domain … a
// SecurityError"), and an IP address is a host but no domain (WHATWG URL
// Standard, "Hosts"). The default public URL, http://127.0.0.1:<port>, is
// therefore never listed (listening prefers http://localhost:<port>).
func passkeyOrigins(urls ...string) []string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if s == "" || err != nil || u.Host == "" || net.ParseIP(u.Hostname()) != nil {
			continue
		}
		scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
		if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
			host = net.JoinHostPort(host, p)
		}
		if o := scheme + "://" + host; !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
