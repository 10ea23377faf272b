// Package cli holds the plumbing the module's commands share: a main that
// runs until SIGINT or SIGTERM and exits with the code its run function
// returns, and a flag set that reports to the command's standard error.
//
// Each command keeps its work in a function of the shape of [Run], so its
// tests call that function with their own arguments and writers:
//
//	func main() { cli.Main(run) }
//
//	func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
//		fs := cli.NewFlagSet("name", stderr)
//		...
//	}
package cli

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run is the body of a command: it works until ctx is done, reads its
// arguments (without the program name) from args, writes to stdout and
// stderr, and returns the process exit code.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Main calls run with the process's arguments and standard streams, under a
// context that ends on SIGINT or SIGTERM, and exits with the code run
// returns.
func Main(run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// NewFlagSet returns an empty flag set for the command name that writes
// usage and errors to stderr and returns parse errors instead of exiting.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
