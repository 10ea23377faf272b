package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// Paths of the emulator the tests below watch: the code check of an email
// conversion, Cull's search and its delete.
const (
	verifyPath = "/v1/auth/otp/verify/email"
	searchPath = "/v2/mgmt/user/search"
	deletePath = "/v1/mgmt/user/delete/batch"
)

// runCull runs the command in this process against env's emulator, with the
// management key in its environment and REDIS_URL as redisEnv says, culling
// users over an hour old, and returns its JSON report, its stderr and its
// exit code.
func runCull(t *testing.T, env *anontest.Env, redisEnv string, args ...string) (rep anonymous.CullReport, stderr string, code int) {
	t.Helper()
	t.Setenv("DESCOPE_PROJECT_ID", "")
	t.Setenv("DESCOPE_BASE_URL", "")
	t.Setenv("DESCOPE_MANAGEMENT_KEY", env.Emu.ManagementKey)
	t.Setenv("REDIS_URL", redisEnv)
	args = append([]string{"-project-id", env.Emu.ProjectID, "-base-url", env.Emu.URL, "-older-than", "1h", "-json", "-timeout", "1m"}, args...)
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not a JSON report: %v\n%s", err, out.String())
		}
	}
	return rep, errb.String(), code
}

// verify posts the code check of b's conversion to addr, as the visitor's
// browser would, and returns the status answered (0 when the request
// failed). It may run on any goroutine.
func verify(env *anontest.Env, b *http.Client, addr, code string) int {
	req, err := http.NewRequest(http.MethodPost, env.Server.URL+"/x/verify?"+url.Values{"addr": {addr}, "code": {code}}.Encode(), nil)
	if err != nil {
		return 0
	}
	req.Header.Set("User-Agent", anontest.BrowserUA)
	res, err := b.Do(req)
	if err != nil {
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// With -redis-url and the middleware's prefix, the command keeps a stale
// anonymous user whose conversion holds the conversion lock in the
// middleware's redisstore at that moment, leaves that lock alone, and
// deletes the user once the conversion (a wrong code, here) let go of it.
// The conversion is real: the middleware took the lock and waits on
// Descope's code check, which the emulator holds until the command is done.
// Without the lock, nothing about the user has changed yet, so a command
// that holds no lock deletes it.
func TestCommandHoldsConversionLock(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	const prefix = "shop:" // not redisstore's default: the flag must carry it
	st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	// A long timeout, so that the held code check outlasts the command's
	// run: the middleware holds its lock for 8 timeouts.
	env := anontest.NewEnvWith(t, anontest.Setup{Timeout: 30 * time.Second}, nil, anonymous.WithStore(st))
	b, id, code := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}

	entered, release := make(chan struct{}), make(chan struct{})
	env.Emu.InjectFault(verifyPath, descopetest.Fault{Times: 1, Before: func() {
		close(entered)
		<-release
	}})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	verified := make(chan int, 1)
	go func() { verified <- verify(env, b, "ada@example.com", wrong) }()
	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the conversion did not reach Descope's code check")
	}
	ctx := context.Background()
	lockKey := prefix + "conv:lock:" + id
	if n, err := rdb.Exists(ctx, lockKey).Result(); err != nil || n != 1 {
		t.Fatalf("the conversion's lock %s in Redis: %d, %v", lockKey, n, err)
	}

	rep, stderr, exit := runCull(t, env, "", "-redis-url", srv.URL(), "-redis-prefix", prefix)
	if exit != 0 || rep.Deleted != 0 || rep.DeleteCalls != 0 || rep.Skipped[anonymous.SkipConverting] != 1 {
		t.Errorf("cull while a conversion holds the lock: exit %d, %+v\n%s", exit, rep, stderr)
	}
	if _, ok := env.Emu.User(id); !ok {
		t.Fatal("the user whose conversion held the lock was deleted")
	}
	if n, _ := rdb.Exists(ctx, lockKey).Result(); n != 1 {
		t.Error("the command released the conversion's lock")
	}

	close(release)
	released = true
	select {
	case status := <-verified:
		if status == http.StatusOK || status == 0 {
			t.Fatalf("the wrong code answered %d", status)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the conversion did not finish")
	}
	if n, _ := rdb.Exists(ctx, lockKey).Result(); n != 0 {
		t.Fatal("the conversion kept its lock")
	}
	if u, ok := env.Emu.User(id); !ok || u.Email != "" || len(u.UserTenants) != 1 {
		t.Fatalf("the failed conversion changed the user: %+v, %v", u, ok)
	}

	rep, stderr, exit = runCull(t, env, "", "-redis-url", srv.URL(), "-redis-prefix", prefix)
	if exit != 0 || rep.Deleted != 1 || rep.Skipped[anonymous.SkipConverting] != 0 {
		t.Errorf("cull once the lock is free: exit %d, %+v\n%s", exit, rep, stderr)
	}
	if _, ok := env.Emu.User(id); ok {
		t.Error("the stale user survived once the lock was free")
	}
	if n, _ := rdb.Exists(ctx, lockKey).Result(); n != 0 {
		t.Error("the command kept its lock after the delete")
	}
}

// closedRedisURL is the URL of a loopback port nothing listens on.
func closedRedisURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "redis://" + addr + "/0"
}

// Asked to hold the conversion locks, the command deletes nothing without
// them: a Redis that does not answer at the start, by flag or by REDIS_URL,
// or that stops answering during the run, ends it with exit 1 and no delete
// sent. A malformed URL, or a prefix with no Redis, is a bad flag (exit 2).
func TestCommandFailsClosedWithoutRedis(t *testing.T) {
	cases := []struct {
		name     string
		redisEnv string
		args     []string
		stop     bool // a Redis that answers at the start stops at the first search
		exit     int
		stderr   string
	}{
		{name: "flag, unreachable", args: []string{"-redis-url", "<closed>"}, exit: 1, stderr: "does not answer"},
		{name: "REDIS_URL, unreachable", redisEnv: "<closed>", exit: 1, stderr: "does not answer"},
		{name: "dry run, unreachable", args: []string{"-redis-url", "<closed>", "-dry-run"}, exit: 1, stderr: "does not answer"},
		{name: "stops during the run", args: []string{"-redis-url", "<live>"}, stop: true, exit: 1, stderr: "store unavailable"},
		{name: "malformed", args: []string{"-redis-url", "redis://user:hunter2@127.0.0.1:noport/0"}, exit: 2, stderr: "-redis-url"},
		{name: "not redis", args: []string{"-redis-url", "http://127.0.0.1:6379"}, exit: 2, stderr: "-redis-url"},
		{name: "prefix without Redis", args: []string{"-redis-prefix", "shop:"}, exit: 2, stderr: "-redis-prefix needs -redis-url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := anontest.NewEnv(t, nil, nil)
			_, id, _ := env.AgedVisitor(t, "ada@example.com", 2*time.Hour)
			closed := closedRedisURL(t)
			var live *redistest.Server
			if tc.stop {
				live = redistest.Start(t)
				env.Emu.InjectFault(searchPath, descopetest.Fault{Times: 1, Before: func() { live.Stop(t) }})
			}
			subst := func(s string) string {
				s = strings.ReplaceAll(s, "<closed>", closed)
				if live != nil {
					s = strings.ReplaceAll(s, "<live>", live.URL())
				}
				return s
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = subst(a)
			}
			env.Emu.ResetRequests()
			rep, stderr, exit := runCull(t, env, subst(tc.redisEnv), args...)
			if exit != tc.exit || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d, stderr containing %q:\n%s", exit, tc.exit, tc.stderr, stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("the Redis password is printed:\n%s", stderr)
			}
			if n := env.Emu.Requests(deletePath); n != 0 || rep.Deleted != 0 {
				t.Errorf("%d delete calls, %d deleted, want none", n, rep.Deleted)
			}
			if _, ok := env.Emu.User(id); !ok {
				t.Error("the stale user was deleted")
			}
			if tc.stop && env.Emu.Requests(searchPath) != 1 {
				t.Errorf("%d searches, want 1: Redis did not stop during the run", env.Emu.Requests(searchPath))
			}
		})
	}
}

// The default of -redis-prefix is the prefix redisstore uses by default, so
// that the command and a middleware built with redisstore.New(rdb) name the
// same locks.
func TestDefaultPrefixIsRedisstores(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := st.SetNX(ctx, "conv:lock:u", nil, time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if n, err := rdb.Exists(ctx, defaultRedisPrefix+"conv:lock:u").Result(); err != nil || n != 1 {
		t.Errorf("redisstore's default prefix is not %q: %d, %v", defaultRedisPrefix, n, err)
	}
}
