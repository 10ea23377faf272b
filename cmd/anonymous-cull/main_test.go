package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous"
)

var readyLine = regexp.MustCompile(`descope emulator listening on (http://127\.0\.0\.1:\d+) project=(P\S+) key=(K\S+)`)

// build compiles a command of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestCommandEndToEnd runs the command as a process against the emulator
// command, also a process.
func TestCommandEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two commands")
	}
	dir := t.TempDir()
	emuBin := build(t, dir, "github.com/descope-contrib/anonymous/descopetest/cmd/descope-emulator")
	cullBin := build(t, dir, "github.com/descope-contrib/anonymous/cmd/anonymous-cull")

	emu := exec.Command(emuBin, "-addr", "127.0.0.1:0")
	stdout, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Process.Kill(); _ = emu.Wait() })
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m
				return
			}
		}
	}()
	var m []string
	select {
	case m = <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("emulator did not start")
	}
	url, pid, key := m[1], m[2], m[3]

	c, err := client.NewWithConfig(&client.Config{ProjectID: pid, ManagementKey: key, DescopeBaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mw, err := anonymous.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.Init(ctx); err != nil {
		t.Fatal(err)
	}
	ts, _ := c.Management.Tenant().LoadAll(ctx)
	inTenant := []*descope.AssociatedTenant{{TenantID: ts[0].ID}}
	var old []string
	for range 5 {
		u, err := c.Management.User().Create(ctx, anonymous.NewLoginID(), &descope.UserRequest{Tenants: inTenant})
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, u.UserID)
	}
	yes := true
	if _, err := c.Management.User().Create(ctx, "kept@example.com", &descope.UserRequest{
		User: descope.User{Email: "kept@example.com"}, VerifiedEmail: &yes, Tenants: inTenant,
	}); err != nil {
		t.Fatal(err)
	}
	// A member of another tenant too is not anonymous.
	other, err := c.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Customers"})
	if err != nil {
		t.Fatal(err)
	}
	member, err := c.Management.User().Create(ctx, anonymous.NewLoginID(), &descope.UserRequest{
		Tenants: append(inTenant, &descope.AssociatedTenant{TenantID: other}),
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the seeded users are now over one second old
	fresh, err := c.Management.User().Create(ctx, anonymous.NewLoginID(), &descope.UserRequest{Tenants: inTenant})
	if err != nil {
		t.Fatal(err)
	}

	run := func(env []string, args ...string) (report anonymous.CullReport, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(cullBin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if out.Len() > 0 {
			if err := json.Unmarshal(out.Bytes(), &report); err != nil {
				t.Fatalf("stdout is not a JSON report: %v\n%s", err, out.String())
			}
		}
		return report, errb.String(), code
	}
	env := []string{"DESCOPE_PROJECT_ID=" + pid, "DESCOPE_MANAGEMENT_KEY=" + key, "DESCOPE_BASE_URL=" + url}

	rep, stderr, code := run(env, "--dry-run", "--json", "--older-than", "1s", "--batch", "2")
	if code != 0 || rep.Deleted != 5 || !rep.DryRun || !strings.Contains(stderr, "would delete") {
		t.Fatalf("dry run: code %d, %+v\n%s", code, rep, stderr)
	}
	rep, stderr, code = run(env, "--json", "--older-than", "1s", "--batch", "2")
	if code != 0 || rep.Deleted != 5 || rep.Skipped[anonymous.SkipVerified] != 1 || rep.Skipped[anonymous.SkipOtherTenant] != 1 ||
		rep.LoadCalls != 5 || rep.DeleteCalls != 5 || !strings.Contains(stderr, "5 loads, 5 delete calls") {
		t.Fatalf("cull: code %d, %+v\n%s", code, rep, stderr)
	}
	if _, err := c.Management.User().Load(ctx, member.UserID); err != nil {
		t.Errorf("member of another tenant deleted: %v", err)
	}
	for _, id := range old {
		if _, err := c.Management.User().Load(ctx, id); err == nil {
			t.Errorf("stale user %s survived", id)
		}
	}
	if _, err := c.Management.User().Load(ctx, fresh.UserID); err != nil {
		t.Errorf("fresh user deleted: %v", err)
	}
	if _, err := c.Management.User().Load(ctx, "kept@example.com"); err != nil {
		t.Errorf("converted user deleted: %v", err)
	}

	if _, _, code := run([]string{"DESCOPE_PROJECT_ID=" + pid}); code != 2 {
		t.Errorf("missing key: exit %d, want 2", code)
	}
	if _, stderr, code := run([]string{"DESCOPE_PROJECT_ID=" + pid, "DESCOPE_MANAGEMENT_KEY=Kwrong", "DESCOPE_BASE_URL=" + url}, "--older-than", "1s"); code != 1 {
		t.Errorf("wrong key: exit %d, want 1\n%s", code, stderr)
	}
	if _, _, code := run(env, "--batch", "5000", "--older-than", "1s"); code != 1 {
		t.Errorf("bad batch: exit %d, want 1", code)
	}
}
