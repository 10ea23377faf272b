// Command anonymous-cull deletes the anonymous Descope users that never
// converted and are older than the anonymous lifetime. Run it from cron.
//
//	DESCOPE_PROJECT_ID=P… DESCOPE_MANAGEMENT_KEY=K… anonymous-cull --dry-run
//
// Progress goes to stderr; --json prints the report on stdout. It exits 0
// when the run completed with no failed deletion, 1 otherwise, 2 on bad flags.
//
// Each user a search page shows stale is loaded again right before its
// delete, and kept if anything about it changed (two calls per user deleted,
// paced at most 400 a minute: 200 users a minute). The command holds no
// conversion lock: a conversion by the middleware that lands between that
// load and the delete, one round trip, can still lose its user. To close that
// window, run anonymous.Cull inside the application with
// CullOptions.Store set to the middleware's store.
package main

import (
	"context"
	"encoding/json"
	"errors"
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
	c, err := client.NewWithConfig(&client.Config{ProjectID: *projectID, ManagementKey: key, DescopeBaseURL: *baseURL})
	if err != nil {
		fmt.Fprintf(stderr, "anonymous-cull: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	opts := anonymous.CullOptions{
		TenantName: *tenant,
		TenantID:   *tenantID,
		OlderThan:  *olderThan,
		BatchSize:  *batch,
		DryRun:     *dryRun,
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
