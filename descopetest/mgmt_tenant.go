package descopetest

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// tenantRequest is the body of tenant create and update.
type tenantRequest struct {
	ID                      string         `json:"id"`
	Name                    string         `json:"name"`
	SelfProvisioningDomains []string       `json:"selfProvisioningDomains"`
	CustomAttributes        map[string]any `json:"customAttributes"`
	Disabled                bool           `json:"disabled"`
}

// nameTakenLocked reports whether another tenant than self has name.
func (e *Emulator) nameTakenLocked(name, self string) bool {
	for id, t := range e.tenants {
		if id != self && strings.EqualFold(t.name, name) {
			return true
		}
	}
	return false
}

// withTenant runs f under e.mu with the tenant of the ID, and answers what
// f returns.
func (e *Emulator) withTenant(id string, f func(t *tenant) (any, *apiError)) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tenants[id]
	if t == nil {
		return nil, tenantNotFound(id)
	}
	return f(t)
}

// withQueriedTenant runs withTenant for the tenant of the query's id.
func (e *Emulator) withQueriedTenant(c *call, f func(t *tenant) (any, *apiError)) (any, *apiError) {
	id, a := c.query("id")
	if a != nil {
		return nil, a
	}
	return e.withTenant(id, f)
}

// handleTenantCreate creates a tenant with the ID given, or a random one.
// Neither its ID nor its name (in any case) may be taken.
func (e *Emulator) handleTenantCreate(c *call, req *tenantRequest) (any, *apiError) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		return nil, missingArg("name")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := strings.TrimSpace(req.ID)
	if id == "" {
		id = randomID("T", 27)
	}
	if e.tenants[id] != nil {
		return nil, invalid("a tenant with ID %q already exists", id)
	}
	if e.nameTakenLocked(req.Name, "") {
		return nil, invalid("a tenant named %q already exists", req.Name)
	}
	e.tenants[id] = &tenant{
		id:       id,
		name:     req.Name,
		custom:   maps.Clone(req.CustomAttributes),
		created:  e.now(),
		disabled: req.Disabled,
		settings: tenantSettings{
			SelfProvisioningDomains: mergeStrings(nil, req.SelfProvisioningDomains),
			Domains:                 []string{},
		},
	}
	e.tenantList = append(e.tenantList, id)
	return map[string]string{"id": id}, nil
}

func (e *Emulator) handleTenantUpdate(c *call, req *tenantRequest) (any, *apiError) {
	if req.ID == "" {
		return nil, missingArg("id")
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		return nil, missingArg("name")
	}
	return e.withTenant(req.ID, func(t *tenant) (any, *apiError) {
		if e.nameTakenLocked(req.Name, t.id) {
			return nil, invalid("a tenant named %q already exists", req.Name)
		}
		t.name = req.Name
		t.settings.SelfProvisioningDomains = mergeStrings(nil, req.SelfProvisioningDomains)
		t.custom = maps.Clone(req.CustomAttributes)
		t.disabled = req.Disabled
		return nil, nil
	})
}

// tenantDeleteRequest is the body of tenant delete.
type tenantDeleteRequest struct {
	ID string `json:"id"`
}

// handleTenantDelete deletes the tenant and removes its users from it;
// deleting no tenant succeeds.
func (e *Emulator) handleTenantDelete(c *call, req *tenantDeleteRequest) (any, *apiError) {
	if req.ID == "" {
		return nil, missingArg("id")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tenants[req.ID] == nil {
		return nil, nil
	}
	delete(e.tenants, req.ID)
	e.tenantList = slices.DeleteFunc(e.tenantList, func(id string) bool { return id == req.ID })
	for _, u := range e.users {
		u.tenants = slices.DeleteFunc(u.tenants, func(t userTenant) bool { return t.id == req.ID })
	}
	return nil, nil
}

// handleTenantLoad answers the tenant with the query's id.
func (e *Emulator) handleTenantLoad(c *call) (any, *apiError) {
	return e.withQueriedTenant(c, func(t *tenant) (any, *apiError) {
		return e.tenantResponseLocked(t), nil
	})
}

func (e *Emulator) handleTenantLoadAll(*call) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]any, 0, len(e.tenantList))
	for _, id := range e.tenantList {
		out = append(out, e.tenantResponseLocked(e.tenants[id]))
	}
	return map[string]any{"tenants": out}, nil
}

// tenantSearchRequest is the body of tenant search.
type tenantSearchRequest struct {
	TenantIDs               []string       `json:"tenantIds"`
	TenantNames             []string       `json:"tenantNames"`
	SelfProvisioningDomains []string       `json:"tenantSelfProvisioningDomains"`
	CustomAttributes        map[string]any `json:"customAttributes"`
}

func (e *Emulator) handleTenantSearch(c *call, req *tenantSearchRequest) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []any{}
	for _, id := range e.tenantList {
		t := e.tenants[id]
		if len(req.TenantIDs) > 0 && !slices.Contains(req.TenantIDs, t.id) ||
			len(req.TenantNames) > 0 && !anyFold(req.TenantNames, t.name) ||
			len(req.SelfProvisioningDomains) > 0 && !slices.ContainsFunc(t.settings.SelfProvisioningDomains, func(d string) bool { return anyFold(req.SelfProvisioningDomains, d) }) {
			continue
		}
		match := true
		for k, want := range req.CustomAttributes {
			if !attributeMatches(t.custom[k], want) {
				match = false
				break
			}
		}
		if match {
			out = append(out, e.tenantResponseLocked(t))
		}
	}
	return map[string]any{"tenants": out}, nil
}

// checkUnit validates a lifetime and its unit.
func (e *Emulator) checkUnit(field string, n int32, unit string) *apiError {
	if n < 0 {
		return invalid("%s must not be negative", field)
	}
	switch unit {
	case "minutes", "hours", "days", "weeks":
		return e.checkSize(field, n, unit)
	case "seconds":
		if e.cfg.secondsUnit {
			return e.checkSize(field, n, unit)
		}
	case "":
		if n == 0 {
			return nil
		}
	}
	units := "minutes, hours, days or weeks"
	if e.cfg.secondsUnit {
		units = "seconds, " + units
	}
	return invalid("%sUnit must be one of %s, not %q", field, units, unit)
}

func (e *Emulator) checkSize(field string, n int32, unit string) *apiError {
	if n > 0 && unitDuration(n, unit) == 0 {
		return invalid("%s of %d %s is too long", field, n, unit)
	}
	return nil
}

// MinSessionTTL is the shortest session token lifetime tenant session
// settings accept, unless WithSecondsUnit is on.
const MinSessionTTL = 3 * time.Minute

// checkLifetimes refuses what Descope's tenant management documents as
// invalid: a session token lifetime under 3 minutes (MinSessionTTL, waived
// by WithSecondsUnit so tests can use short lifetimes) or longer than the
// refresh token lifetime (the tenant's, or the project's when the tenant
// sets none; always enforced). Refused either way, whether or not the
// settings are enabled.
func (e *Emulator) checkLifetimes(s *tenantSettings) *apiError {
	session := unitDuration(s.SessionTokenExpiration, s.SessionTokenExpirationUnit)
	if session == 0 {
		return nil
	}
	refresh := unitDuration(s.RefreshTokenExpiration, s.RefreshTokenExpirationUnit)
	if refresh == 0 {
		refresh = e.cfg.refreshTTL
	}
	switch {
	case session < MinSessionTTL && !e.cfg.secondsUnit:
		return invalid("sessionTokenExpiration of %d %s is shorter than 3 minutes", s.SessionTokenExpiration, s.SessionTokenExpirationUnit)
	case session > refresh:
		return invalid("sessionTokenExpiration (%v) must not be longer than refreshTokenExpiration (%v)", session, refresh)
	}
	return nil
}

func (e *Emulator) handleTenantConfigureSettings(c *call, req *tenantSettings) (any, *apiError) {
	if req.TenantID == "" {
		return nil, missingArg("tenantId")
	}
	for _, chk := range []struct {
		field string
		n     int32
		unit  string
	}{
		{"refreshTokenExpiration", req.RefreshTokenExpiration, req.RefreshTokenExpirationUnit},
		{"sessionTokenExpiration", req.SessionTokenExpiration, req.SessionTokenExpirationUnit},
		{"stepupTokenExpiration", req.StepupTokenExpiration, req.StepupTokenExpirationUnit},
		{"inactivityTime", req.InactivityTime, req.InactivityTimeUnit},
	} {
		if a := e.checkUnit(chk.field, chk.n, chk.unit); a != nil {
			return nil, a
		}
	}
	if a := e.checkLifetimes(req); a != nil {
		return nil, a
	}
	return e.withTenant(req.TenantID, func(t *tenant) (any, *apiError) {
		req.TenantID = ""
		req.Domains = mergeStrings(nil, req.Domains)
		req.SelfProvisioningDomains = mergeStrings(nil, req.SelfProvisioningDomains)
		t.settings = *req
		return nil, nil
	})
}

// handleTenantGetSettings answers the session settings of the tenant with
// the query's id.
func (e *Emulator) handleTenantGetSettings(c *call) (any, *apiError) {
	return e.withQueriedTenant(c, func(t *tenant) (any, *apiError) {
		s := t.settings
		s.Domains = slices.Clone(s.Domains)
		s.SelfProvisioningDomains = slices.Clone(s.SelfProvisioningDomains)
		return s, nil
	})
}
