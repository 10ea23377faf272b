package descopetest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"
)

func TestStatusFaults(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "f@example.com")

	for _, status := range []int{500, 502} {
		emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Status: status, Times: 1})
		start := time.Now()
		_, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("status %d took %v: the SDK retried", status, d)
		}
		de := descope.AsError(err)
		if de == nil || de.Info[descope.ErrorInfoKeys.HTTPResponseStatusCode] != status || de.Code == "" {
			t.Fatalf("status %d fault: %v", status, err)
		}
		// Times: 1 lets the next request through.
		if ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh); !ok || err != nil {
			t.Fatalf("after a one-time fault: %v", err)
		}
	}

	emu.InjectFault("/v1/mgmt/user/create", descopetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7})
	_, err := sdk.Management.User().Create(ctx, "x@example.com", nil)
	de := wantCode(t, err, "E130429", http.StatusTooManyRequests)
	if de.Info[descope.ErrorInfoKeys.RateLimitExceededRetryAfter] != 7 {
		t.Fatalf("Retry-After info = %v", de.Info)
	}
	// Faults apply before authentication and routing, to any method.
	status, body := rawCall(t, emu, http.MethodGet, "/v1/mgmt/user/create", "", "")
	if status != http.StatusTooManyRequests || body["errorCode"] != "E130429" {
		t.Fatalf("fault on unauthenticated GET: %d %v", status, body)
	}
	emu.ClearFaults()
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "x@example.com", nil))
	if emu.Requests("/v1/mgmt/user/create") != 3 {
		t.Fatalf("create requests = %d, want 3 (faulted ones count)", emu.Requests("/v1/mgmt/user/create"))
	}
}

func TestLatencyAndDropFaults(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "slow@example.com")

	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: time.Minute})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := sdk.Auth.RefreshSessionWithToken(short, refresh)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("latency with a client timeout: %v after %v", err, time.Since(start))
	}

	// Latency alone delays a normal answer.
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: 50 * time.Millisecond})
	start = time.Now()
	if ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh); !ok || err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("slow refresh: %v after %v", err, time.Since(start))
	}
	// Latency plus status.
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: 20 * time.Millisecond, Status: 500, Times: 1})
	_, _, err = sdk.Auth.RefreshSessionWithToken(ctx, refresh)
	if de := descope.AsError(err); de == nil || de.Info[descope.ErrorInfoKeys.HTTPResponseStatusCode] != 500 {
		t.Fatalf("slow 500: %v", err)
	}

	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Drop: true, Times: 1})
	_, _, err = sdk.Auth.RefreshSessionWithToken(ctx, refresh)
	if err == nil || isDescope(err) {
		t.Fatalf("dropped connection: %v", err)
	}
	if ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh); !ok || err != nil {
		t.Fatalf("after drop: %v", err)
	}
	log := emu.RequestLog()
	var dropped bool
	for _, r := range log {
		if r.Path == "/v1/auth/refresh" && r.Status == 0 {
			dropped = true
		}
	}
	if !dropped {
		t.Fatalf("request log has no unanswered refresh: %v", log)
	}
}

func TestCloseReleasesLatency(t *testing.T) {
	emu := descopetest.New()
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: time.Hour})
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.Post(emu.URL+"/v1/auth/refresh", "application/json", nil)
		if err == nil {
			res.Body.Close()
		}
	}()
	for emu.Requests("/v1/auth/refresh") == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { emu.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a latency fault")
	}
	<-done
}

// ClearFaults ends the delay of a request already sleeping in a latency
// fault, and the request is then handled normally.
func TestClearFaultsEndsLatency(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "cleared@example.com")
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: time.Hour})
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, _, err := sdk.Auth.RefreshSessionWithToken(ctx, refresh)
		done <- result{ok, err}
	}()
	for emu.Requests("/v1/auth/refresh") == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the delayed refresh was answered before ClearFaults: %v", r.err)
	default:
	}
	emu.ClearFaults()
	select {
	case r := <-done:
		if !r.ok || r.err != nil {
			t.Fatalf("refresh after ClearFaults: %v, %v", r.ok, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ClearFaults did not end the delay in progress")
	}
	// Faults injected after ClearFaults delay again.
	emu.InjectFault("/v1/auth/refresh", descopetest.Fault{Latency: time.Minute})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, _, err := sdk.Auth.RefreshSessionWithToken(short, refresh); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency injected after ClearFaults: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu, sdk, ctx := setup(t, descopetest.WithRateLimits(), descopetest.WithClock(clk.Now))
	users := sdk.Management.User()
	for i := range 100 {
		if _, err := users.Create(ctx, "u"+strings.Repeat("x", i), nil); err != nil {
			t.Fatalf("create %d: %v", i+1, err)
		}
	}
	clk.Add(15 * time.Second)
	_, err := users.Create(ctx, "one-too-many", nil)
	de := wantCode(t, err, "E130429", http.StatusTooManyRequests)
	if de.Info[descope.ErrorInfoKeys.RateLimitExceededRetryAfter] != 45 {
		t.Fatalf("Retry-After = %v, want 45", de.Info)
	}
	// Other buckets are independent.
	must[*descope.UserResponse](t)(users.Load(ctx, "u"))
	// The window frees after 60 s.
	clk.Add(45 * time.Second)
	must[*descope.UserResponse](t)(users.Create(ctx, "one-too-many", nil))
	if emu.UserCount() != 101 {
		t.Fatalf("user count = %d", emu.UserCount())
	}
}

func TestRequestCounting(t *testing.T) {
	emu, sdk, ctx := setup(t)
	emu.ResetRequests()
	if emu.TotalRequests() != 0 || len(emu.RequestLog()) != 0 {
		t.Fatal("reset did not clear")
	}
	signIn(t, sdk, ctx, "count@example.com")
	_, _ = sdk.Management.User().Load(ctx, "nobody")
	// The sign-in made the client fetch the keys, which counts too.
	keys := "/v2/keys/" + emu.ProjectID
	if emu.Requests("/v1/mgmt/auth/signup-in") != 1 || emu.Requests(keys) != 1 || emu.Requests("/v1/mgmt/user") != 1 || emu.TotalRequests() != 3 {
		t.Fatalf("counts: %d %d %d %d", emu.Requests("/v1/mgmt/auth/signup-in"), emu.Requests(keys), emu.Requests("/v1/mgmt/user"), emu.TotalRequests())
	}
	log := emu.RequestLog()
	if len(log) != 3 || log[0].Method != http.MethodPost || log[0].Status != 200 || log[1].Path != keys ||
		log[2].Status != 400 || log[2].Time.IsZero() {
		t.Fatalf("log = %+v", log)
	}
}

func TestAuthRequired(t *testing.T) {
	emu, sdk, ctx := setup(t)
	bad, err := client.NewWithConfig(&client.Config{ProjectID: emu.ProjectID, ManagementKey: "Kwrong", DescopeBaseURL: emu.URL})
	check(t, err)
	_, err = bad.Management.User().Create(ctx, "x", nil)
	wantCode(t, err, "E011003", http.StatusUnauthorized)

	noKey, err := client.NewWithConfig(&client.Config{ProjectID: emu.ProjectID, DescopeBaseURL: emu.URL})
	check(t, err)
	_, err = noKey.Management.User().Create(ctx, "x", nil)
	wantCode(t, err, "E011003", http.StatusUnauthorized)

	otherProject, err := client.NewWithConfig(&client.Config{ProjectID: "Pother", ManagementKey: emu.ManagementKey, DescopeBaseURL: emu.URL})
	check(t, err)
	_, err = otherProject.Management.User().Create(ctx, "x", nil)
	wantCode(t, err, "E011003", http.StatusUnauthorized)

	// Refresh needs a refresh token: a session token is refused.
	session, _ := signIn(t, sdk, ctx, "auth@example.com")
	status, body := rawCall(t, emu, http.MethodPost, "/v1/auth/refresh", emu.ProjectID+":"+session, "")
	if status != http.StatusUnauthorized || body["errorCode"] == nil {
		t.Fatalf("refresh with a session token: %d %v", status, body)
	}
	status, body = rawCall(t, emu, http.MethodPost, "/v1/auth/refresh", emu.ProjectID, "")
	if status != http.StatusUnauthorized || body["errorCode"] == nil {
		t.Fatalf("refresh without token: %d %v", status, body)
	}
	// A refresh token of another project sharing the key is unknown here.
	other := descopetest.New()
	defer other.Close()
	_, foreign := signIn(t, other.MustClient(t), ctx, "auth@example.com")
	_, _, err = sdk.Auth.RefreshSessionWithToken(ctx, foreign)
	if !descope.IsUnauthorizedError(err) {
		t.Fatalf("foreign refresh token: %v", err)
	}
}

func TestRawErrors(t *testing.T) {
	emu, _, _ := setup(t)
	mk := mgmtAuth(emu)
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
	}{
		{"unknown path", http.MethodGet, "/v1/nope", mk, "", 404, "E011001"},
		{"wrong method", http.MethodGet, "/v1/mgmt/user/create", mk, "", 405, "E011001"},
		{"malformed JSON", http.MethodPost, "/v1/mgmt/user/create", mk, `{"loginId":`, 400, "E011001"},
		{"wrong JSON type", http.MethodPost, "/v1/mgmt/user/create", mk, `{"loginId":5}`, 400, "E011001"},
		{"missing field", http.MethodPost, "/v1/mgmt/user/create", mk, `{}`, 400, "E011002"},
		{"empty body", http.MethodPost, "/v1/mgmt/tenant/create", mk, ``, 400, "E011002"},
		{"no auth", http.MethodPost, "/v1/mgmt/user/create", "", `{"loginId":"x"}`, 401, "E011003"},
		{"bad OTP method", http.MethodPost, "/v1/auth/otp/verify/pigeon", emu.ProjectID, `{"loginId":"x","code":"1"}`, 400, "E011003"},
		{"too large", http.MethodPost, "/v1/mgmt/user/create", mk, `{"loginId":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "E011001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, emu, tc.method, tc.path, tc.auth, tc.body)
			if status != tc.status || body["errorCode"] != tc.code || body["errorDescription"] == "" || body["errorMessage"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	emu, sdk, ctx := setup(t)
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Busy"}))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			login := "c" + strings.Repeat("i", i) + "@example.com"
			info, err := sdk.Management.JWT().SignUpOrIn(ctx, login, nil, nil)
			if err != nil {
				errs <- err
				return
			}
			if _, err := sdk.Management.User().AddTenant(ctx, login, tid); err != nil {
				errs <- err
			}
			for range 3 {
				if _, _, err := sdk.Auth.RefreshSessionWithToken(ctx, info.RefreshToken.JWT); err != nil {
					errs <- err
				}
			}
			if _, _, err := sdk.Management.User().SearchAll(ctx, &descope.UserSearchOptions{TenantIDs: []string{tid}}); err != nil {
				errs <- err
			}
			_ = emu.RequestLog()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if emu.UserCount() != 16 {
		t.Fatalf("user count = %d", emu.UserCount())
	}
}

func TestNewHandler(t *testing.T) {
	emu := descopetest.NewHandler(descopetest.WithProjectID("Pfixed"), descopetest.WithManagementKey("Kfixed"))
	if emu.URL != "" || emu.ProjectID != "Pfixed" || emu.ManagementKey != "Kfixed" {
		t.Fatalf("emulator = %+v", emu)
	}
	if _, err := emu.Client(); err == nil {
		t.Fatal("Client without URL succeeded")
	}
	srv := newServer(emu.Handler())
	defer srv.Close()
	emu.URL = srv.URL
	sdk := emu.MustClient(t)
	if _, err := sdk.Management.User().Create(context.Background(), "h@example.com", nil); err != nil {
		t.Fatal(err)
	}
	emu.Close()
}

func TestGarbageInput(t *testing.T) {
	emu, sdk, ctx := setup(t)
	_, refresh := signIn(t, sdk, ctx, "g@example.com")
	paths := []string{
		"/v1/auth/password/signup", "/v1/auth/password/signin", "/v1/auth/password/replace",
		"/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/logoutall", "/v1/auth/me",
		"/v1/auth/otp/update/email", "/v1/auth/otp/update/phone/sms", "/v1/auth/otp/verify/email",
		"/v1/auth/otp/signup-in/sms", "/v1/auth/tenant/select",
		"/v1/mgmt/user/create", "/v1/mgmt/user/create/test", "/v1/mgmt/user/create/batch", "/v1/mgmt/user",
		"/v1/mgmt/user/update", "/v1/mgmt/user/patch", "/v1/mgmt/user/update/tenant/add",
		"/v1/mgmt/user/update/tenant/remove", "/v1/mgmt/user/update/status", "/v1/mgmt/user/update/loginid",
		"/v1/mgmt/user/update/email", "/v1/mgmt/user/update/phone", "/v2/mgmt/user/search",
		"/v1/mgmt/user/delete", "/v1/mgmt/user/delete/batch", "/v1/mgmt/user/logout",
		"/v1/mgmt/auth/signin", "/v1/mgmt/auth/signup", "/v1/mgmt/auth/signup-in", "/v1/mgmt/auth/anonymous",
		"/v1/mgmt/jwt/update", "/v1/mgmt/tenant/create", "/v1/mgmt/tenant/update", "/v1/mgmt/tenant/delete",
		"/v1/mgmt/tenant", "/v1/mgmt/tenant/all", "/v1/mgmt/tenant/search", "/v1/mgmt/tenant/settings",
		"/v2/keys/" + emu.ProjectID, "/emulator/v1/outbox", "/v1/mgmt/license",
	}
	bodies := []string{
		"", "null", "[]", `"x"`, "{}", `{"loginId":null,"users":[null,{}],"userTenants":[{}]}`,
		`{"loginId":"g@example.com","userTenants":[{"tenantId":""}],"status":"weird","limit":-5,"page":2147483647}`,
		`{"loginId":"g@example.com","newLoginId":"","tenantId":"nope","jwt":"a.b.c","code":"x","tenant":"nope"}`,
		`{"tenantId":"x","refreshTokenExpiration":2147483647,"refreshTokenExpirationUnit":"weeks"}`,
		`{"limit":2147483647,"page":2147483647}`, "\x00\xff{",
	}
	auths := []string{"", emu.ProjectID, mgmtAuth(emu), emu.ProjectID + ":" + refresh, emu.ProjectID + ":a.b.c", "::::"}
	for _, path := range paths {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
			for _, auth := range auths {
				for _, body := range bodies {
					status, out := rawCall(t, emu, method, path, auth, body)
					if status >= 500 || status != http.StatusOK && out["errorCode"] == nil {
						t.Fatalf("%s %s auth %q body %q: %d %v", method, path, auth, body, status, out)
					}
				}
			}
		}
	}
}
