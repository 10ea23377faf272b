package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

var readyLine = regexp.MustCompile(`^descope emulator listening on (http://127\.0\.0\.1:\d+) project=(P\S+) key=(K\S+)$`)

func TestCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test stops the command with SIGTERM")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	bin := filepath.Join(t.TempDir(), "descope-emulator")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-seconds-unit", "-rotate",
		"-magic-link-uri", "https://app.example.com/verify", "-oauth-update-conflict", "error")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line within 10 s")
	}
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line = %q", line)
	}

	sdk, err := client.NewWithConfig(&client.Config{ProjectID: m[2], ManagementKey: m[3], DescopeBaseURL: m[1]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := sdk.Management.User().Create(ctx, "cmd@example.com", &descope.UserRequest{})
	if err != nil || u.UserID == "" {
		t.Fatalf("create user: %v", err)
	}
	info, err := sdk.Management.JWT().SignIn(ctx, "cmd@example.com", nil)
	if err != nil || info.SessionToken.ProjectID != m[2] {
		t.Fatalf("sign in: %v", err)
	}

	// The project's magic link URI applies to a call that sends none, and
	// the link can be read over HTTP.
	if _, err := sdk.Auth.MagicLink().SignUpOrIn(ctx, descope.MethodEmail, "cmd@example.com", "", nil); err != nil {
		t.Fatalf("magic link: %v", err)
	}
	res, err := http.Get(m[1] + "/emulator/v1/outbox/link?address=cmd@example.com")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"link":"https://app.example.com/verify?t=`) {
		t.Fatalf("link outbox: %d %s", res.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not exit within 10 s of SIGTERM")
	}
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"}, {"extra"}, {"-session-ttl", "0s"}, {"-magic-link-ttl", "-1m"}, {"-oauth-update-conflict", "whatever"},
		{"-allowed-origin", "app.example.com"}, {"-allowed-origin", "https://app.example.com/path"}, {"-allowed-origin", "*"},
	} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	if code := run(context.Background(), []string{"-addr", "256.0.0.1:0"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("run with a bad address = %d, want 1", code)
	}
}

func TestAllowedOriginFlag(t *testing.T) {
	_, opts, err := parseFlags([]string{"-allowed-origin", "https://app.example.com", "-allowed-origin", "http://dev.example.com:8080/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	emu := descopetest.NewHandler(opts...)
	srv := httptest.NewServer(emu.Handler())
	defer srv.Close()
	for origin, want := range map[string]int{
		"https://app.example.com":      http.StatusNoContent,
		"http://dev.example.com:8080":  http.StatusNoContent,
		"http://localhost:3000":        http.StatusNoContent,
		"https://other.example.com":    http.StatusForbidden,
		"https://app.example.com:8443": http.StatusForbidden,
	} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/v1/auth/me", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("preflight from %s: %d, want %d", origin, res.StatusCode, want)
		}
	}
}
