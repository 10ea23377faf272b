package anontest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/descopetest"
)

// The conversion budget: how many Descope calls one visitor, and one client,
// can cause through conversion. The scenarios here send a flood of starts or
// verifies and assert the figures the README states; they run on one
// middleware (the root package) and on replicas sharing Redis (redisstore),
// spreading the requests over the replicas they are given.

// The documented limits, per 10-minute window.
const (
	// StartsPerVisitor is how many conversion starts of one visitor may
	// reach Descope.
	StartsPerVisitor = 10
	// VerifiesPerVisitor is how many verifications of one visitor may reach
	// Descope.
	VerifiesPerVisitor = 10
	// PerClient is how many starts, and how many verifications, of one
	// client may reach Descope (the default of WithConversionClientLimit).
	PerClient = 30
	// CodesPerVisitor is how many codes one visitor may be sent.
	CodesPerVisitor = 5
	// LockAfter is how many wrong codes the emulator takes before it locks
	// a code: the next verify is answered E061103.
	LockAfter = 5
)

// Calls is what the emulator received, by kind.
type Calls struct {
	Total    int // every request but key fetches
	Loads    int // user load (GET /v1/mgmt/user)
	Sends    int // OTP update email or phone, OTP sign-up-or-in
	Verifies int // OTP verify
	Limited  int // requests Descope answered with 429
}

// CountCalls counts the requests in emu's log.
func CountCalls(emu *descopetest.Emulator) Calls {
	var c Calls
	for _, r := range emu.RequestLog() {
		if strings.HasPrefix(r.Path, "/v2/keys/") {
			continue
		}
		c.Total++
		switch {
		case r.Path == "/v1/mgmt/user":
			c.Loads++
		case strings.HasPrefix(r.Path, "/v1/auth/otp/update/"), strings.HasPrefix(r.Path, "/v1/auth/otp/signup-in/"):
			c.Sends++
		case strings.HasPrefix(r.Path, "/v1/auth/otp/verify/"):
			c.Verifies++
		}
		if r.Status == http.StatusTooManyRequests {
			c.Limited++
		}
	}
	return c
}

// StartCalls is the most Descope calls, and user loads, one conversion
// start of the strategy s may make: an owner lookup, a load of the user
// (once per pending conversion) and the code for a user-backed visitor; the
// code alone for a native or local one.
func StartCalls(s anonymous.Strategy) (calls, loads int) {
	if s == anonymous.UserBacked {
		return 3, 2
	}
	return 1, 0
}

// VerifyCalls is the most Descope calls, and user loads, one verification
// that fails may make: an owner lookup and the code for a user-backed
// visitor; the code alone for a native or local one.
func VerifyCalls(s anonymous.Strategy) (calls, loads int) {
	if s == anonymous.UserBacked {
		return 2, 1
	}
	return 1, 0
}

// sendPath is the Descope path that sends a conversion code in strategy s.
func sendPath(s anonymous.Strategy) string {
	if s == anonymous.UserBacked {
		return "/v1/auth/otp/update/email"
	}
	return "/v1/auth/otp/signup-in/email"
}

// Replicas is a constructor of the middlewares a scenario runs on: one, or
// several sharing a store, all on one emulator and one strategy, fresh for
// each call.
type Replicas func(t *testing.T) []*Env

// statuses sends n requests, the i-th through ws[i%len(ws)] by do, and
// returns their statuses.
func statuses(ws []*Env, n int, do func(i int, w *Env) Me) []int {
	out := make([]int, n)
	for i := range n {
		out[i] = do(i, ws[i%len(ws)]).Status
	}
	return out
}

// expectStatuses fails unless the statuses are first (any of them) for the
// first k, then 429.
func expectStatuses(t *testing.T, what string, got []int, k int, first ...int) {
	t.Helper()
	for i, s := range got {
		want := i < k && contains(first, s) || i >= k && s == http.StatusTooManyRequests
		if !want {
			t.Errorf("%s: request %d answered %d (all: %v); want one of %v for the first %d, then 429", what, i, s, got, first, k)
			return
		}
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// StartBudget floods the conversion start: one visitor asking for 100 codes
// to one address, one visitor whose starts all fail (the address is
// another account's, or Descope fails to send), and 40 visitors of one
// client. Each reaches Descope only as often as the limits say, and each
// start costs at most StartCalls.
func StartBudget(t *testing.T, replicas Replicas) {
	t.Run("codes sent", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		b, _ := w.Visitor(t)
		w.Emu.ResetRequests()
		got := statuses(ws, 100, func(_ int, w *Env) Me { return w.Start(t, b, "me@example.com") })
		expectStatuses(t, "100 starts to one address", got, CodesPerVisitor, http.StatusOK)
		c := CountCalls(w.Emu)
		// The user is loaded for the first code only: the pending conversion
		// remembers its login ID.
		wantCalls, wantLoads := CodesPerVisitor, 0
		if w.Strategy == anonymous.UserBacked {
			wantCalls, wantLoads = 3+2*(CodesPerVisitor-1), 1+CodesPerVisitor
		}
		t.Logf("%s: 100 starts to one address made %+v", w.Strategy, c)
		if c.Sends != CodesPerVisitor || c.Loads > wantLoads || c.Total > wantCalls {
			t.Errorf("100 starts to one address made %+v; want %d codes, at most %d loads and %d calls", c, CodesPerVisitor, wantLoads, wantCalls)
		}
	})
	t.Run("failing starts", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		w.Registered(t, "taken@example.com")
		b, _ := w.Visitor(t)
		w.Emu.ResetRequests()
		w.Emu.InjectFault(sendPath(w.Strategy), descopetest.Fault{Status: http.StatusBadGateway})
		if p := sendPath(anonymous.NativeTokens); p != sendPath(w.Strategy) {
			// A registered address gets a sign-in code (a returning customer).
			w.Emu.InjectFault(p, descopetest.Fault{Status: http.StatusBadGateway})
		}
		got := statuses(ws, 50, func(i int, w *Env) Me {
			addr := fmt.Sprintf("fresh%d@example.com", i)
			if i%2 == 0 {
				addr = "taken@example.com"
			}
			return w.Start(t, b, addr)
		})
		w.Emu.ClearFaults()
		expectStatuses(t, "50 failing starts", got, StartsPerVisitor, http.StatusConflict, http.StatusServiceUnavailable)
		c := CountCalls(w.Emu)
		calls, loads := StartCalls(w.Strategy)
		t.Logf("%s: 50 failing starts made %+v", w.Strategy, c)
		if c.Total > StartsPerVisitor*calls || c.Loads > StartsPerVisitor*loads {
			t.Errorf("50 failing starts made %+v; want at most %d calls and %d loads", c, StartsPerVisitor*calls, StartsPerVisitor*loads)
		}
	})
	t.Run("one client", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		visitors := make([]*http.Client, 40)
		for i := range visitors {
			visitors[i], _ = ws[i%len(ws)].Visitor(t)
		}
		w.Emu.ResetRequests()
		got := statuses(ws, len(visitors), func(i int, w *Env) Me {
			return w.Start(t, visitors[i], fmt.Sprintf("v%d@example.com", i))
		})
		expectStatuses(t, "40 visitors of one client", got, PerClient, http.StatusOK)
		c := CountCalls(w.Emu)
		calls, loads := StartCalls(w.Strategy)
		t.Logf("%s: 40 starts of one client made %+v", w.Strategy, c)
		if c.Sends != PerClient || c.Total > PerClient*calls || c.Loads > PerClient*loads {
			t.Errorf("40 starts of one client made %+v; want %d codes, at most %d calls and %d loads", c, PerClient, PerClient*calls, PerClient*loads)
		}
	})
}

// VerifyBudget floods the conversion verify: 100 wrong codes (Descope locks
// the code after LockAfter, and then the middleware stops asking), wrong
// codes with a new code before each lock (the per-visitor limit stops them),
// and 40 visitors of one client verifying with no code sent.
func VerifyBudget(t *testing.T, replicas Replicas) {
	t.Run("locked code", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		b, _ := w.Visitor(t)
		code := w.SendCode(t, b, "me@example.com")
		w.Emu.ResetRequests()
		got := statuses(ws, 100, func(_ int, w *Env) Me { return w.Verify(t, b, "me@example.com", wrongCode(code)) })
		expectStatuses(t, "100 wrong codes", got, LockAfter, http.StatusBadRequest)
		if st := ws[len(ws)-1].Verify(t, b, "me@example.com", code).Status; st != http.StatusTooManyRequests {
			t.Errorf("the right code once locked: %d, want 429", st)
		}
		c := CountCalls(w.Emu)
		calls, loads := VerifyCalls(w.Strategy)
		// LockAfter wrong codes, and the one Descope answered "locked".
		reached := LockAfter + 1
		t.Logf("%s: 100 wrong codes and the right one made %+v", w.Strategy, c)
		if c.Verifies != reached || c.Total > reached*calls || c.Loads > reached*loads {
			t.Errorf("100 wrong codes and the right one made %+v; want %d verifies, at most %d calls and %d loads", c, reached, reached*calls, reached*loads)
		}
		// A new code is verified again.
		code = w.SendCode(t, b, "me@example.com")
		if p := ws[len(ws)-1].Verify(t, b, "me@example.com", code); p.Status != http.StatusOK || p.Anonymous {
			t.Errorf("the new code: %+v", p)
		}
	})
	t.Run("per visitor", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		b, _ := w.Visitor(t)
		w.Emu.ResetRequests()
		var got []int
		for round := range 3 {
			code := ws[round%len(ws)].SendCode(t, b, "me@example.com")
			got = append(got, statuses(ws, LockAfter-1, func(_ int, w *Env) Me {
				return w.Verify(t, b, "me@example.com", wrongCode(code))
			})...)
		}
		expectStatuses(t, "wrong codes, a new code before each lock", got, VerifiesPerVisitor, http.StatusBadRequest)
		c := CountCalls(w.Emu)
		t.Logf("%s: %d wrong codes over 3 codes made %+v", w.Strategy, len(got), c)
		if c.Verifies != VerifiesPerVisitor {
			t.Errorf("%d wrong codes made %+v; want %d verifies", len(got), c, VerifiesPerVisitor)
		}
	})
	t.Run("one client", func(t *testing.T) {
		ws := replicas(t)
		w := ws[0]
		visitors := make([]*http.Client, 40)
		for i := range visitors {
			visitors[i], _ = ws[i%len(ws)].Visitor(t)
		}
		w.Emu.ResetRequests()
		got := statuses(ws, len(visitors), func(i int, w *Env) Me {
			return w.Verify(t, visitors[i], fmt.Sprintf("v%d@example.com", i), "123456")
		})
		c := CountCalls(w.Emu)
		t.Logf("%s: 40 verifies of one client with no code sent made %+v", w.Strategy, c)
		if w.Strategy != anonymous.UserBacked {
			// No pending conversion, nothing to ask Descope.
			expectStatuses(t, "40 verifies with no code sent", got, len(visitors), http.StatusConflict)
			if c.Total != 0 {
				t.Errorf("40 verifies with no code sent made %+v; want none", c)
			}
			return
		}
		// A user-backed visitor may resume a conversion whose address is
		// verified: one load finds out.
		expectStatuses(t, "40 verifies with no code sent", got, PerClient, http.StatusConflict)
		if c.Total > PerClient || c.Loads > PerClient {
			t.Errorf("40 verifies of one client made %+v; want at most %d loads", c, PerClient)
		}
	})
}

// wrongCode returns a one-time code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}
