package descopetest

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope/client"
)

// Emulator is an in-process emulation of the Descope HTTP API for one
// project. Create it with New (which also starts an HTTP server) or
// NewHandler (which does not), point a go-sdk client at URL, and inspect or
// steer it with its test controls. All methods are safe for concurrent use.
type Emulator struct {
	// URL is the base URL of the emulator, such as http://127.0.0.1:PORT,
	// without a trailing slash. NewHandler leaves it empty for the caller to
	// set once it serves Handler.
	URL string
	// ProjectID is the ID of the emulated project.
	ProjectID string
	// ManagementKey is the key that management calls must present.
	ManagementKey string

	cfg     config
	signer  *signer
	issuer  string
	srv     *httptest.Server
	done    chan struct{}
	closing sync.Once
	exact   map[string]map[string]route // path -> method -> route
	dynamic []dynamicRoute

	mu         sync.Mutex // guards the project data below
	users      map[string]*user
	byLogin    map[string]string // normalized login ID -> user ID
	tenants    map[string]*tenant
	tenantList []string // tenant IDs in creation order
	tokens     map[string]*refreshRecord
	userTokens map[string]map[string]struct{} // subject -> jtis
	issued     int
	pending    map[string]*otpOp
	outbox     map[string]string
	methods    methodState // magic links, OAuth, passkeys (methods.go)

	statsMu sync.Mutex // guards the request statistics, faults and rate windows
	counts  map[string]int
	total   int
	log     []Request
	faults  map[string]*faultState
	cleared chan struct{} // closed and replaced by ClearFaults
	windows map[string]*rateWindow
}

// New returns an emulator serving on a new httptest server bound to
// 127.0.0.1. Call Close when done (t.Cleanup(e.Close) in tests).
func New(opts ...Option) *Emulator {
	e := NewHandler(opts...)
	e.srv = httptest.NewServer(e.Handler())
	e.URL = e.srv.URL
	return e
}

// NewHandler returns an emulator without starting a server: serve Handler
// yourself and set URL. The descope-emulator command uses it.
func NewHandler(opts ...Option) *Emulator {
	cfg := config{
		sessionTTL: DefaultSessionTTL,
		refreshTTL: DefaultRefreshTTL,
		otpTTL:     DefaultOTPTTL,
		now:        time.Now,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.projectID == "" {
		cfg.projectID = randomID("P", 27)
	}
	if cfg.managementKey == "" {
		cfg.managementKey = randomID("K", 40)
	}
	var s *signer
	switch {
	case cfg.key != nil:
		s = newSigner(cfg.key)
	case cfg.freshKey:
		s = freshSigner()
	default:
		s = sharedSigner()
	}
	e := &Emulator{
		ProjectID:     cfg.projectID,
		ManagementKey: cfg.managementKey,
		cfg:           cfg,
		signer:        s,
		issuer:        "https://api.descope.com/" + cfg.projectID,
		done:          make(chan struct{}),
		users:         map[string]*user{},
		byLogin:       map[string]string{},
		tenants:       map[string]*tenant{},
		tokens:        map[string]*refreshRecord{},
		userTokens:    map[string]map[string]struct{}{},
		pending:       map[string]*otpOp{},
		outbox:        map[string]string{},
		methods:       newMethodState(),
		counts:        map[string]int{},
		faults:        map[string]*faultState{},
		cleared:       make(chan struct{}),
		windows:       map[string]*rateWindow{},
	}
	e.buildRoutes()
	return e
}

// Handler returns the http.Handler that serves the emulated API.
func (e *Emulator) Handler() http.Handler { return handler{e} }

// Close stops the server started by New, first releasing requests that are
// sleeping in a latency fault. It is safe to call more than once.
func (e *Emulator) Close() {
	e.closing.Do(func() {
		close(e.done)
		if e.srv != nil {
			e.srv.Close()
		}
	})
}

// Client returns a real go-sdk client for this emulator's project, with its
// management key, talking to URL.
func (e *Emulator) Client() (*client.DescopeClient, error) {
	if e.URL == "" {
		return nil, errors.New("descopetest: emulator URL is empty; serve Handler and set URL first")
	}
	return client.NewWithConfig(&client.Config{
		ProjectID:      e.ProjectID,
		ManagementKey:  e.ManagementKey,
		DescopeBaseURL: e.URL,
	})
}

// MustClient is like Client but calls t.Fatal on error.
func (e *Emulator) MustClient(t testing.TB) *client.DescopeClient {
	t.Helper()
	c, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// now reads the emulator's clock (WithClock).
func (e *Emulator) now() time.Time { return e.cfg.now() }

// idAlphabet is the alphabet of random IDs: 32 letters and digits.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// randomID returns prefix followed by n random characters from a 32-letter
// alphabet.
func randomID(prefix string, n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // never fails
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	for _, b := range buf {
		out = append(out, idAlphabet[b&31])
	}
	return string(out)
}
