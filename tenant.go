package anonymous

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/descope/go-sdk/descope"
	"github.com/descope/go-sdk/descope/client"
)

// lifetimeUnits are Descope's session-settings units, largest first, plus
// "seconds", which only the emulator's seconds mode accepts.
var lifetimeUnits = []struct {
	name string
	d    time.Duration
}{
	{"weeks", 7 * 24 * time.Hour},
	{"days", 24 * time.Hour},
	{"hours", time.Hour},
	{"minutes", time.Minute},
	{"seconds", time.Second},
}

// toUnit expresses d in the largest unit that divides it exactly.
func toUnit(d time.Duration) (int32, string) {
	for _, u := range lifetimeUnits {
		if d%u.d == 0 {
			return int32(d / u.d), u.name
		}
	}
	return int32(d / time.Second), "seconds"
}

// fromUnit turns a Descope amount and unit back into a duration.
func fromUnit(n int32, unit string) (time.Duration, bool) {
	for _, u := range lifetimeUnits {
		if strings.EqualFold(unit, u.name) {
			return time.Duration(n) * u.d, n > 0
		}
	}
	return 0, false
}

// tenantSpec says which tenant holds anonymous users and, when configure is
// set, the session settings it must have.
type tenantSpec struct {
	id, name             string
	lifetime, sessionTTL time.Duration
	configure            bool
	obs                  *observer // reports the calls to Descope; may be nil
}

// resolvedTenant is the anonymous tenant as found in Descope.
type resolvedTenant struct {
	id       string
	lifetime time.Duration // refresh lifetime from its session settings; 0 if none
}

// resolveTenant finds the anonymous tenant by ID or name, creates it when it
// is missing (only when spec.configure is set) and makes its session settings
// match the spec. It makes no change when the settings already match.
func resolveTenant(ctx context.Context, c *client.DescopeClient, spec tenantSpec) (resolvedTenant, error) {
	t, err := findTenant(ctx, c, spec)
	if err != nil {
		return resolvedTenant{}, err
	}
	if t == nil {
		if !spec.configure {
			return resolvedTenant{}, fmt.Errorf("anonymous: tenant %q not found", firstNonEmpty(spec.id, spec.name))
		}
		t, err = createTenant(ctx, c, spec)
		if err != nil {
			return resolvedTenant{}, err
		}
	}
	settings, err := observe(spec.obs, ctx, "tenant.get_settings", func(ctx context.Context) (*descope.TenantSettings, error) {
		return c.Management.Tenant().GetSettings(ctx, t.ID)
	})
	if err != nil {
		return resolvedTenant{}, during("load settings of tenant "+t.ID, err)
	}
	res := resolvedTenant{id: t.ID}
	if settings.SessionSettingsEnabled {
		res.lifetime, _ = fromUnit(settings.RefreshTokenExpiration, settings.RefreshTokenExpirationUnit)
	}
	if !spec.configure {
		return res, nil
	}
	refreshN, refreshUnit := toUnit(spec.lifetime)
	sessionN, sessionUnit := toUnit(spec.sessionTTL)
	session, _ := fromUnit(settings.SessionTokenExpiration, settings.SessionTokenExpirationUnit)
	if settings.SessionSettingsEnabled && res.lifetime == spec.lifetime && session == spec.sessionTTL {
		return res, nil
	}
	settings.SessionSettingsEnabled = true
	settings.RefreshTokenExpiration, settings.RefreshTokenExpirationUnit = refreshN, refreshUnit
	settings.SessionTokenExpiration, settings.SessionTokenExpirationUnit = sessionN, sessionUnit
	_, err = observe(spec.obs, ctx, "tenant.configure_settings", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.Management.Tenant().ConfigureSettings(ctx, t.ID, settings)
	})
	if err != nil {
		return resolvedTenant{}, during("configure session settings of tenant "+t.ID, err)
	}
	res.lifetime = spec.lifetime
	return res, nil
}

func findTenant(ctx context.Context, c *client.DescopeClient, spec tenantSpec) (*descope.Tenant, error) {
	if spec.id != "" {
		t, err := observe(spec.obs, ctx, "tenant.load", func(ctx context.Context) (*descope.Tenant, error) {
			return c.Management.Tenant().Load(ctx, spec.id)
		})
		if err != nil {
			if isTransient(err) {
				return nil, wrap(ErrUnavailable, err)
			}
			return nil, nil // Descope answers 400 for an unknown tenant ID
		}
		return t, nil
	}
	ts, err := observe(spec.obs, ctx, "tenant.search", func(ctx context.Context) ([]*descope.Tenant, error) {
		return c.Management.Tenant().SearchAll(ctx, &descope.TenantSearchOptions{Names: []string{spec.name}})
	})
	if err != nil {
		return nil, during(fmt.Sprintf("search tenant %q", spec.name), err)
	}
	for _, t := range ts {
		if strings.EqualFold(t.Name, spec.name) {
			return t, nil
		}
	}
	return nil, nil
}

func createTenant(ctx context.Context, c *client.DescopeClient, spec tenantSpec) (*descope.Tenant, error) {
	req := &descope.TenantRequest{Name: spec.name}
	id, err := observe(spec.obs, ctx, "tenant.create", func(ctx context.Context) (string, error) {
		if spec.id != "" {
			return spec.id, c.Management.Tenant().CreateWithID(ctx, spec.id, req)
		}
		return c.Management.Tenant().Create(ctx, req)
	})
	if err != nil {
		// Another replica may have created it a moment ago.
		if t, ferr := findTenant(ctx, c, spec); ferr == nil && t != nil {
			return t, nil
		}
		return nil, during(fmt.Sprintf("create tenant %q", spec.name), err)
	}
	return &descope.Tenant{ID: id, Name: spec.name}, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Init resolves the anonymous tenant now (creating it and configuring its
// session settings when needed) instead of on first use, so a deployment
// learns at start-up whether its credentials work.
func (m *Middleware) Init(ctx context.Context) error {
	_, err := m.anonTenant(ctx, true)
	return err
}

// anonTenant returns the anonymous tenant's ID, resolving it on first use.
// After a failure it waits a few seconds before asking Descope again, so an
// outage does not turn every request into a tenant lookup.
func (m *Middleware) anonTenant(ctx context.Context, force bool) (string, error) {
	select {
	case <-m.tenantOK:
		return m.tenantID, nil
	default:
	}
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	if m.tenantID != "" {
		return m.tenantID, nil
	}
	if !force && m.now().Before(m.tenantNext) {
		return "", m.tenantErr
	}
	// One bound for the whole resolution, whose calls resolveTenant reports.
	ctx, cancel := m.callContext(ctx)
	defer cancel()
	t, err := resolveTenant(ctx, m.c, tenantSpec{
		id: m.cfg.tenantID, name: m.cfg.tenantName,
		lifetime: m.cfg.lifetime, sessionTTL: m.cfg.sessionTTL, configure: true, obs: m.obs,
	})
	if err != nil {
		if isTransient(err) {
			err = wrap(ErrUnavailable, err)
		}
		m.tenantErr, m.tenantNext = err, m.now().Add(5*time.Second)
		m.cfg.logger.Warn("anonymous tenant not resolved", "err", err)
		return "", err
	}
	m.tenantID = t.id
	close(m.tenantOK)
	m.cfg.logger.Info("anonymous tenant resolved", "tenant", t.id)
	return t.id, nil
}

// knownTenant returns the tenant ID if it is already resolved.
func (m *Middleware) knownTenant() (string, bool) {
	select {
	case <-m.tenantOK:
		return m.tenantID, true
	default:
		return "", false
	}
}
