// Command anonymous-cull deletes the anonymous Descope users that never
// converted and are older than the anonymous lifetime. Run it from cron.
//
//	DESCOPE_PROJECT_ID=P… DESCOPE_MANAGEMENT_KEY=K… REDIS_URL=redis://… anonymous-cull --dry-run
//
// Progress goes to stderr; --json prints the report on stdout. It exits 0
// when the run completed with no failed deletion, 1 otherwise, 2 on bad flags.
//
// Each user a search page shows stale is loaded again right before its
// delete, and kept if anything about it changed (two calls per user deleted,
// paced at most 400 a minute: 200 users a minute).
//
// With --redis-url (env REDIS_URL), the Redis the middleware keeps its state
// in through redisstore, the command holds each user's conversion lock from
// that load to the delete, as [anonymous.Cull] does with
// [anonymous.CullOptions].Store: a conversion by the middleware cannot land
// in between, and a user whose conversion holds the lock is kept this run.
// --redis-prefix must be the middleware's [redisstore.WithPrefix] (default
// "anonymous:"); the lock keys are not hashed, so no store secret is needed.
// A Redis that does not answer, at the start or during the run, stops the
// command with exit 1 before any further delete: it never deletes without
// the lock it was asked to hold.
//
// Without --redis-url the command holds no lock: a conversion by the
// middleware that lands between the load and the delete, one round trip,
// can still lose its user.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/cli"
)

// main runs the command; see run.
func main() { cli.Main(run) }

// run culls once, until done or ctx ends, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("anonymous-cull", stderr)
	var (
		projectID = fs.String("project-id", os.Getenv("DESCOPE_PROJECT_ID"), "Descope project ID (env DESCOPE_PROJECT_ID)")
		baseURL   = fs.String("base-url", os.Getenv("DESCOPE_BASE_URL"), "Descope API base URL (env DESCOPE_BASE_URL; default Descope's)")
		tenant    = fs.String("tenant", "Anonymous Users", "name of the anonymous tenant")
		tenantID  = fs.String("tenant-id", "", "ID of the anonymous tenant (instead of -tenant)")
		olderThan = fs.Duration("older-than", 0, "delete anonymous users created longer ago than this (default: the tenant's refresh lifetime)")
		batch     = fs.Int("batch", 100, "users per search page (1-100)")
		dryRun    = fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
		asJSON    = fs.Bool("json", false, "print the report as JSON on stdout")
		timeout   = fs.Duration("timeout", time.Hour, "give up after this long")
		redisURL  = fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis `URL` of the middleware's store (redisstore), e.g. redis://127.0.0.1:6379/0 (env REDIS_URL): each user's conversion lock is held from its last check to its delete; default none: no lock")
		prefix    = fs.String("redis-prefix", defaultRedisPrefix, "key prefix of the middleware's redisstore (redisstore.WithPrefix); with -redis-url")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: anonymous-cull [flags]\n\nThe management key is read from DESCOPE_MANAGEMENT_KEY.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	key := os.Getenv("DESCOPE_MANAGEMENT_KEY")
	if *projectID == "" || key == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "anonymous-cull: DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY must be set")
		fs.Usage()
		return 2
	}
	if *redisURL == "" && flagSet(fs, "redis-prefix") {
		// A prefix alone would look like a lock that is not held.
		fmt.Fprintln(stderr, "anonymous-cull: -redis-prefix needs -redis-url (or REDIS_URL)")
		return 2
	}
	c, err := client.NewWithConfig(&client.Config{ProjectID: *projectID, ManagementKey: key, DescopeBaseURL: *baseURL})
	if err != nil {
		fmt.Fprintf(stderr, "anonymous-cull: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var store anonymous.Store // nil: no lock
	if *redisURL != "" {
		st, closeStore, err := openStore(ctx, *redisURL, *prefix)
		if err != nil {
			fmt.Fprintf(stderr, "anonymous-cull: %v\n", err)
			if _, bad := errors.AsType[errRedisURL](err); bad {
				return 2
			}
			return 1
		}
		defer closeStore()
		store = st
	}
	opts := anonymous.CullOptions{
		TenantName: *tenant,
		TenantID:   *tenantID,
		OlderThan:  *olderThan,
		BatchSize:  *batch,
		DryRun:     *dryRun,
		Store:      store,
		Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Progress: func(r anonymous.CullReport) {
			fmt.Fprintf(stderr, "scanned %d, %s %d, skipped %d, failed %d\n", r.Scanned, verb(r.DryRun), r.Deleted, total(r.Skipped), r.Failed)
		},
	}
	report, err := anonymous.Cull(ctx, c, opts)
	if report != nil {
		summary(stderr, report)
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(report)
		}
	}
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "anonymous-cull: stopped early: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "anonymous-cull: %v\n", err)
		}
		return 1
	case report.Failed > 0:
		fmt.Fprintf(stderr, "anonymous-cull: %d deletions failed\n", report.Failed)
		return 1
	}
	return 0
}

// defaultRedisPrefix is redisstore's default key prefix.
const defaultRedisPrefix = "anonymous:"

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// verb says what a run did to the users it chose: deleted them, or would
// have in a dry run.
func verb(dry bool) string {
	if dry {
		return "would delete"
	}
	return "deleted"
}

// total sums the counts of m.
func total(m map[anonymous.SkipReason]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// summary writes r to w: one line of totals, then one line per reason a
// user was kept, in the order of the reasons.
func summary(w io.Writer, r *anonymous.CullReport) {
	fmt.Fprintf(w, "tenant %s, cutoff %s: scanned %d, %s %d, failed %d in %s (%d searches, %d loads, %d delete calls, %d retries)\n",
		r.TenantID, r.Cutoff.Format(time.RFC3339), r.Scanned, verb(r.DryRun), r.Deleted, r.Failed,
		r.Duration.Round(time.Millisecond), r.SearchCalls, r.LoadCalls, r.DeleteCalls, r.Retries)
	for _, k := range slices.Sorted(maps.Keys(r.Skipped)) {
		fmt.Fprintf(w, "  kept %d: %s\n", r.Skipped[k], k)
	}
}
