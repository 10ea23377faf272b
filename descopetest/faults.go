package descopetest

import (
	"net/http"
	"strconv"
	"time"
)

// faultState is an injected fault and how often it still applies.
type faultState struct {
	f    Fault
	left int // remaining applications; 0 = until cleared
}

// appliedFault is a fault taken by a request, with the channel the next
// ClearFaults closes.
type appliedFault struct {
	Fault
	cleared <-chan struct{}
}

// begin counts a request and returns the fault to apply to it, if any.
func (e *Emulator) begin(path string) *appliedFault {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.counts[path]++
	e.total++
	fs := e.faults[path]
	if fs == nil {
		return nil
	}
	f := fs.f
	if fs.left > 0 {
		fs.left--
		if fs.left == 0 {
			delete(e.faults, path)
		}
	}
	return &appliedFault{Fault: f, cleared: e.cleared}
}

// maxLog is the number of most recent requests RequestLog keeps.
const maxLog = 100_000

// finish logs a request that arrived at t and was answered with status,
// keeping at least the last maxLog requests.
func (e *Emulator) finish(method, path string, status int, t time.Time) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if len(e.log) >= 2*maxLog {
		n := copy(e.log, e.log[len(e.log)-maxLog:])
		clear(e.log[n:])
		e.log = e.log[:n]
	}
	e.log = append(e.log, Request{Method: method, Path: path, Status: status, Time: t})
}

// applyFault applies f and reports whether the request is finished, with
// the status answered (0 when none was). The latency ends early when the
// request's context is done (nothing is answered), the emulator is closed or
// the faults are cleared (the rest of f applies).
func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, f *appliedFault) (status int, done bool) {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, true
		case <-e.done:
			t.Stop()
		case <-f.cleared:
			t.Stop()
		}
	}
	if f.Before != nil {
		f.Before()
	}
	if f.Drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (HTTP/2, recorders): abort the response the
			// way net/http understands.
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return 0, true
	}
	if f.Status == 0 {
		return 0, false
	}
	status = f.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if status == http.StatusTooManyRequests {
		return writeError(w, rateLimited()), true
	}
	return writeError(w, emulatedFault(status, r.URL.Path)), true
}
