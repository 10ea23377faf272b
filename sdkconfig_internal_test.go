package anonymous

import (
	"testing"

	"github.com/descope/go-sdk/descope/client"

	"github.com/descope-contrib/anonymous/descopetest"
)

// The project ID and refresh cookie name are read from the go-sdk client's
// unexported configuration; this pins that the read works with the go-sdk
// version in go.mod, so an upgrade that moves it fails here, not silently.
func TestSDKConfigReadable(t *testing.T) {
	emu := descopetest.New()
	defer emu.Close()
	c := emu.MustClient(t)
	if pid, ok := sdkConfig(c, "ProjectID"); !ok || pid != emu.ProjectID {
		t.Errorf("ProjectID = %q, %v; want %q", pid, ok, emu.ProjectID)
	}
	if _, ok := sdkConfig(c, "RefreshCookieName"); !ok {
		t.Error("RefreshCookieName not readable")
	}
	named, err := client.NewWithConfig(&client.Config{ProjectID: emu.ProjectID, DescopeBaseURL: emu.URL, RefreshCookieName: "myDSR"})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := sdkConfig(named, "RefreshCookieName"); !ok || name != "myDSR" {
		t.Errorf("RefreshCookieName = %q, %v", name, ok)
	}
	if _, ok := sdkConfig(&client.DescopeClient{}, "ProjectID"); ok {
		t.Error("a client without configuration reads as readable")
	}
	if _, err := New(&client.DescopeClient{Auth: c.Auth, Management: c.Management}); err == nil {
		t.Error("New accepted a client whose configuration cannot be read, without WithProjectID")
	}
	if _, err := New(&client.DescopeClient{Auth: c.Auth, Management: c.Management}, WithProjectID(emu.ProjectID)); err != nil {
		t.Errorf("with WithProjectID: %v", err)
	}
}
