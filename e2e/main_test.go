package e2e

import (
	"fmt"
	"os"
	"testing"
)

// buildDir holds the example server's binary (serverBinary), for the
// whole run.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-server-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
