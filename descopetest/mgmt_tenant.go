package descopetest

import (
	"maps"
	"slices"
	"strings"
)

// tenantRequest is the body of tenant create and update.
type tenantRequest struct {
	ID                      string         `json:"id"`
	Name                    string         `json:"name"`
	SelfProvisioningDomains []string       `json:"selfProvisioningDomains"`
	CustomAttributes        map[string]any `json:"customAttributes"`
	Disabled                bool           `json:"disabled"`
}

// tenantDeleteRequest is the body of tenant delete.
type tenantDeleteRequest struct {
	ID string `json:"id"`
}

// tenantSearchRequest is the body of tenant search.
type tenantSearchRequest struct {
	TenantIDs               []string       `json:"tenantIds"`
	TenantNames             []string       `json:"tenantNames"`
	SelfProvisioningDomains []string       `json:"tenantSelfProvisioningDomains"`
	CustomAttributes        map[string]any `json:"customAttributes"`
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

// handleTenantUpdate replaces the tenant's name, self-provisioning
// domains, custom attributes and disabled flag.
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

// handleTenantLoadAll answers every tenant, in creation order.
func (e *Emulator) handleTenantLoadAll(*call) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]any, 0, len(e.tenantList))
	for _, id := range e.tenantList {
		out = append(out, e.tenantResponseLocked(e.tenants[id]))
	}
	return map[string]any{"tenants": out}, nil
}

// handleTenantSearch answers the tenants that match every filter given,
// in creation order.
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
