// Command loadtest measures what the anonymous middleware costs under load:
// the requests per second and latency of a small handler served through the
// middleware ("wrapped"), against the same handler served bare.
//
// It starts an in-process Descope emulator and two HTTP servers on
// 127.0.0.1, then runs N clients, each a goroutine with its own cookie jar
// (one anonymous user each), sharing one keep-alive transport. Each client
// first makes one request to the wrapped server, which provisions its user;
// then the clients load it for the warm-up (not measured) and make one
// request each to the bare server, which opens their connections to it (the
// bare server needs no warm-up). Then the measure: the wrapped server for
// the duration, then the bare server for the duration. Cookies do not
// depend on the port, so the bare server receives the same DS and DSR
// cookies: both servers parse the same requests. With -rounds R, each
// server's duration is cut into R slices that alternate, so that a machine
// whose speed drifts during the run (a shared virtual machine, another
// process) slows both servers alike.
//
// Usage:
//
//	go run ./examples/loadtest [flags]
//
//	-clients N       concurrent clients, 1 to 1000 (default 50)
//	-duration T      measured time per server (default 10s)
//	-warmup W        unmeasured load on the wrapped server first (default 2s)
//	-rounds R        alternate the servers R times, T/R each time (default 1)
//	-session-ttl D   session token lifetime, whole seconds; a few seconds
//	                 makes every client refresh its session under load
//	                 (default 10m)
//	-target URL      load this server instead of the built-in ones (warm-up,
//	                 then the duration); loopback addresses only
//	-cpuprofile F    write a CPU profile of the measured load to F; samples
//	                 carry the label side=server-wrapped, server-bare,
//	                 client-wrapped, client-bare (the clients loading each
//	                 server, their connections included) or emulator
//	                 (go tool pprof -tagfocus side=server-wrapped F)
//
// It prints, per server, the requests, requests per second, p50 and p99
// latency, 5xx responses and transport errors, then the ratio of the wrapped
// to the bare requests per second against the goal "wrapped >= 0.85x bare"
// (PASS or MISS). A client's user ID must never change, even across session
// refreshes: the command exits with status 1 when a client's identity
// changed, on any 5xx response or transport error, or when the wrapped
// server answered without a user. A MISS alone does not fail it.
//
// The load generator shares the machine's CPUs with the servers it loads,
// so the figures compare the two servers with each other, not with a
// production deployment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
)

// maxClients bounds -clients: each client keeps an 18 KiB histogram.
const maxClients = 1000

// config is what the flags set.
type config struct {
	clients    int
	duration   time.Duration
	warmup     time.Duration
	rounds     int
	sessionTTL time.Duration
	target     string // empty: the built-in servers
	cpuProfile string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.clients, "clients", 50, "concurrent `clients`, each with its own cookie jar")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured `time` per server")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured load on the wrapped server before the measure")
	fs.IntVar(&cfg.rounds, "rounds", 1, "alternate the servers this many `times`, each for duration/rounds")
	fs.DurationVar(&cfg.sessionTTL, "session-ttl", 10*time.Minute, "anonymous session token `lifetime` (short values refresh under load)")
	fs.StringVar(&cfg.target, "target", "", "`URL` of a server to load instead of the built-in ones (loopback only)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured load to `file`")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	switch {
	case c.clients < 1 || c.clients > maxClients:
		return fmt.Errorf("-clients %d: want 1 to %d", c.clients, maxClients)
	case c.duration <= 0:
		return fmt.Errorf("-duration %v: want a positive duration", c.duration)
	case c.warmup < 0:
		return fmt.Errorf("-warmup %v: want zero or more", c.warmup)
	case c.rounds < 1 || c.duration/time.Duration(c.rounds) < 10*time.Millisecond:
		return fmt.Errorf("-rounds %d: want 1 or more, and slices of the duration of 10ms or more", c.rounds)
	case c.sessionTTL < time.Second || c.sessionTTL%time.Second != 0:
		return fmt.Errorf("-session-ttl %v: want whole seconds, at least 1s", c.sessionTTL)
	}
	if c.target != "" {
		if err := checkTarget(c.target); err != nil {
			return fmt.Errorf("-target: %w", err)
		}
	}
	return nil
}

// checkTarget accepts only http(s) URLs on a loopback address: this is a
// tool for one's own machine. The transport checks every address it dials
// too, so a name or a redirect cannot lead elsewhere.
func checkTarget(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http or https URL", s)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: only loopback addresses (127.0.0.0/8, ::1, localhost) are accepted", s)
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		stop()
		os.Exit(1)
	}
}
