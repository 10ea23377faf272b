package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// goal is the throughput the wrapped server should keep, as a fraction of
// the bare server's.
const goal = 0.85

// run loads the built-in servers (or cfg.target) and writes the figures to
// stdout. It returns an error wrapping errChecks when a check failed.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	tr := newTransport(cfg.clients)
	defer tr.CloseIdleConnections()
	ws := make([]*worker, cfg.clients)
	for i := range ws {
		ws[i] = newWorker(tr)
	}

	var first, second *phase
	if cfg.target != "" {
		first = newPhase("target", cfg.target, false, cfg.clients)
	} else {
		s, err := startServers(ctx, cfg.sessionTTL)
		if err != nil {
			return fmt.Errorf("start servers: %w", err)
		}
		defer s.close()
		first = newPhase("wrapped", s.wrappedURL, true, cfg.clients)
		second = newPhase("bare", s.bareURL, false, cfg.clients)
	}
	if err := first.prime(ctx, ws); err != nil {
		return err
	}
	if err := first.drive(ctx, ws, cfg.warmup, false); err != nil {
		return err
	}
	if second != nil {
		if err := second.prime(ctx, ws); err != nil { // connections only: no warm-up
			return err
		}
	}
	if err := measure(ctx, cfg, ws, first, second); err != nil {
		return err
	}
	phases := []*phase{first}
	if second != nil {
		phases = append(phases, second)
	}
	for _, p := range phases {
		p.sum()
	}
	return report(stdout, cfg, phases, ws)
}

// measure drives first then second (when not nil) for cfg.duration each, in
// cfg.rounds alternating slices, under the CPU profiler if one was asked for.
func measure(ctx context.Context, cfg config, ws []*worker, first, second *phase) (err error) {
	if cfg.cpuProfile != "" {
		f, ferr := os.Create(cfg.cpuProfile)
		if ferr != nil {
			return ferr
		}
		if ferr := pprof.StartCPUProfile(f); ferr != nil {
			f.Close()
			return ferr
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
	}
	slice := cfg.duration / time.Duration(cfg.rounds)
	for range cfg.rounds {
		if err := first.drive(ctx, ws, slice, true); err != nil {
			return err
		}
		if second == nil {
			continue
		}
		if err := second.drive(ctx, ws, slice, true); err != nil {
			return err
		}
	}
	return nil
}

// report writes the figures and returns the checks' verdict.
func report(out io.Writer, cfg config, rs []*phase, ws []*worker) error {
	if cfg.target != "" {
		fmt.Fprintf(out, "loadtest: %d clients, %v on %s after a %v warm-up\n", cfg.clients, cfg.duration, cfg.target, cfg.warmup)
	} else {
		rounds := ""
		if cfg.rounds > 1 {
			rounds = fmt.Sprintf(" in %d alternating rounds", cfg.rounds)
		}
		fmt.Fprintf(out, "loadtest: %d clients, %v per server%s (wrapped after a %v warm-up), session TTL %v\n",
			cfg.clients, cfg.duration, rounds, cfg.warmup, cfg.sessionTTL)
	}
	fmt.Fprintf(out, "machine: %s %s/%s, %d CPUs, GOMAXPROCS %d (load generator and servers share them)\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "%-8s %10s %10s %9s %9s %6s %7s\n", "server", "requests", "req/s", "p50", "p99", "5xx", "errors")
	var problems []string
	for _, r := range rs {
		fmt.Fprintf(out, "%-8s %10d %10.0f %9s %9s %6d %7d\n", r.name, r.measured, r.rate(),
			latency(r.hist.quantile(0.50)), latency(r.hist.quantile(0.99)), r.status5xx, r.errors)
		if r.status5xx > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d 5xx responses", r.name, r.status5xx))
		}
		if r.errors > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d transport errors, the first: %v", r.name, r.errors, r.firstErr))
		}
		if r.noUser > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d responses without a user", r.name, r.noUser))
		}
		if r.measured == 0 {
			problems = append(problems, fmt.Sprintf("%s: no request completed", r.name))
		}
	}
	fmt.Fprintln(out)
	if len(rs) == 2 {
		wrapped, bare := rs[0], rs[1]
		ratio := 0.0
		if bare.rate() > 0 {
			ratio = wrapped.rate() / bare.rate()
		}
		verdict := "PASS"
		if ratio < goal {
			verdict = "MISS"
		}
		fmt.Fprintf(out, "ratio wrapped/bare req/s: %.3f\n", ratio)
		fmt.Fprintf(out, "wrapped >= %.2fx bare: %s\n", goal, verdict)
	}

	identified, changed := 0, 0
	for _, w := range ws {
		if w.userID != "" {
			identified++
		}
		if w.changed {
			changed++
		}
	}
	first := rs[0]
	switch {
	case cfg.target != "" && identified == 0:
		fmt.Fprintln(out, "identity changes: not checked (the responses carry no userId)")
	case cfg.target != "":
		fmt.Fprintf(out, "identity changes: %d of %d clients (%d clients were given a userId)\n", changed, len(ws), identified)
	default:
		fmt.Fprintf(out, "identity changes: %d of %d clients (%d users provisioned, %d responses refreshed a session)\n",
			changed, len(ws), first.provisions, first.refreshes)
	}
	var n5xx uint64
	for _, r := range rs {
		n5xx += r.status5xx
	}
	fmt.Fprintf(out, "5xx responses: %d\n", n5xx)
	if changed > 0 {
		problems = append(problems, fmt.Sprintf("%d clients changed identity", changed))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errChecks, strings.Join(problems, "; "))
	}
	return nil
}

// latency formats a latency to three significant digits or so.
func latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
