package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pinned are the SDK versions the suite is written against; package.json
// and package-lock.json pin the same.
var pinned = map[string]string{
	"@descope/node-sdk":    "2.13.0",
	"@descope/core-js-sdk": "2.71.0",
	"@descope/web-js-sdk":  "1.53.0",
}

// extraOrigin is an origin the emulator is started to allow besides
// loopback ones, so the suite checks -allowed-origin too.
const extraOrigin = "https://app.example.test"

// readyLine is what descope-emulator prints once it listens.
var readyLine = regexp.MustCompile(`^descope emulator listening on (http://127\.0\.0\.1:\d+) project=(P\S+) key=(K\S+)$`)

// summary matches the closing counts of node's spec reporter.
var summary = regexp.MustCompile(`(?m)^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$`)

func TestConformance(t *testing.T) {
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	emu := startEmulator(t, ctx)

	files, err := filepath.Glob(filepath.Join("test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in test/: %v", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Env = append(os.Environ(),
		"DESCOPE_BASE_URL="+emu.url,
		"DESCOPE_PROJECT_ID="+emu.project,
		"DESCOPE_MANAGEMENT_KEY="+emu.key,
		"CONFORMANCE_EXTRA_ORIGIN="+extraOrigin,
		"NO_COLOR=1",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()

	counts := map[string]string{}
	for _, m := range summary.FindAllStringSubmatch(out.String(), -1) {
		counts[m[1]] = m[2]
	}
	if err != nil || counts["fail"] != "0" || counts["pass"] == "" || counts["pass"] == "0" {
		t.Errorf("node --test: %v\n%s\nemulator log:\n%s", err, out.String(), emu.log.String())
		return
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
	t.Logf("conformance: %s passed, %s failed (node-sdk %s, core-js-sdk %s, web-js-sdk %s)",
		counts["pass"], counts["fail"], pinned["@descope/node-sdk"], pinned["@descope/core-js-sdk"], pinned["@descope/web-js-sdk"])
}

// requireNode returns the node command once node and the pinned SDKs are
// installed; otherwise it skips the test, or fails it under CI.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed: the conformance suite runs Descope's JavaScript SDKs (Node 20 or later)")
	}
	for name, version := range pinned {
		data, err := os.ReadFile(filepath.Join("node_modules", filepath.FromSlash(name), "package.json"))
		if err != nil {
			missing("%s is not installed: run npm ci in conformance/ (make test does)", name)
		}
		var pkg struct{ Version string }
		if err := json.Unmarshal(data, &pkg); err != nil || pkg.Version != version {
			t.Fatalf("node_modules has %s %q, the suite pins %s: run npm ci in conformance/", name, pkg.Version, version)
		}
	}
	return node
}

// emulator is a running descope-emulator command.
type emulator struct {
	url, project, key string
	log               *syncBuffer
}

// startEmulator builds descopetest/cmd/descope-emulator and runs it on a
// free loopback port until the test ends, then stops it with SIGTERM.
func startEmulator(t *testing.T, ctx context.Context) *emulator {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build descope-emulator: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "descope-emulator")
	build := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./descopetest/cmd/descope-emulator")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build descope-emulator: %v\n%s", err, out)
	}

	emu := &emulator{log: &syncBuffer{}}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-allowed-origin", extraOrigin)
	cmd.Stderr = emu.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			ready <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Errorf("descope-emulator: %v", err)
			} else if err != nil {
				t.Errorf("descope-emulator did not stop cleanly: %v\n%s", err, emu.log.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("descope-emulator did not stop within 15 s of SIGTERM")
		}
	})

	select {
	case line := <-ready:
		m := readyLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			t.Fatalf("descope-emulator printed %q, not its ready line\n%s", line, emu.log.String())
		}
		emu.url, emu.project, emu.key = m[1], m[2], m[3]
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("descope-emulator exited before listening: %v\n%s", err, emu.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("descope-emulator did not start within 30 s\n%s", emu.log.String())
	}
	return emu
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
