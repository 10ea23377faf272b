package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
)

// TestEmulatorLifetimes runs the server against an emulator of its own, as
// replicas run against one descope-emulator -seconds-unit: lifetimes in
// seconds need -emulator-lifetimes (ANON_EMULATOR_LIFETIMES=1).
func TestEmulatorLifetimes(t *testing.T) {
	emu := descopetest.New(descopetest.WithSecondsUnit())
	t.Cleanup(emu.Close)
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "ANON_SESSION_TTL": "5s",
		"DESCOPE_PROJECT_ID": emu.ProjectID, "DESCOPE_MANAGEMENT_KEY": emu.ManagementKey, "DESCOPE_BASE_URL": emu.URL,
	}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	cfg, err := parseConfig(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := build(ctx, cfg, logger); err == nil {
		a.Close()
		t.Fatal("a 5 s session against an external emulator was accepted without -emulator-lifetimes")
	}

	for _, tc := range []struct {
		args []string
		env  string
	}{{[]string{"-emulator-lifetimes"}, ""}, {nil, "1"}} {
		args := tc.args
		env["ANON_EMULATOR_LIFETIMES"] = tc.env
		cfg, err := parseConfig(args, getenv)
		if err != nil || !cfg.emulatorLifetimes {
			t.Fatalf("parseConfig(%q): %+v, %v", args, cfg, err)
		}
		a, err := build(ctx, cfg, logger)
		if err != nil {
			t.Fatalf("build with %q: %v", args, err)
		}
		srv := httptest.NewServer(a.Handler)
		res, err := http.Get(srv.URL + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		srv.Close()
		a.Close()
		var ds string
		for _, c := range res.Cookies() {
			if c.Name == "DS" {
				ds = c.Value
			}
		}
		claims, err := descopetest.Claims(ds)
		if err != nil {
			t.Fatalf("visitor's session cookie %q: %v", ds, err)
		}
		if life := time.Duration(claims["exp"].(float64)-claims["iat"].(float64)) * time.Second; life != 5*time.Second {
			t.Errorf("with %q the visitor's session lasts %v, want 5s", args, life)
		}
	}

	// Real Descope refuses such lifetimes: the switch needs an emulator.
	delete(env, "DESCOPE_BASE_URL")
	if _, err := parseConfig([]string{"-emulator-lifetimes"}, getenv); err == nil || !strings.Contains(err.Error(), "DESCOPE_BASE_URL") {
		t.Errorf("-emulator-lifetimes against real Descope: %v", err)
	}
	env["ANON_EMULATOR_LIFETIMES"] = "sometimes"
	if _, err := parseConfig(nil, getenv); err == nil {
		t.Error("a bad ANON_EMULATOR_LIFETIMES was accepted")
	}
}
