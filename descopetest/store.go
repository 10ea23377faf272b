package descopetest

import (
	"crypto/rand"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/descope/go-sdk/descope"
)

// user is a stored user. Guarded by Emulator.mu.
type user struct {
	id       string
	loginIDs []string
	profile
	roles    []string
	tenants  []userTenant
	status   string
	test     bool
	custom   map[string]any
	ssoApps  []string
	password []byte // SHA-256 of the password, nil when none
	created  time.Time
	modified time.Time
	rank     uint64 // random; the default search order (see sortUsers)

	// Other ways to sign in (methods.go).
	oauth    map[string]string // provider -> provider account ID
	passkeys []*passkey        // registered WebAuthn credentials
}

// profile is what a user is called and where it is reached (see
// address.go): the part of a user that a user to create gives as it is.
type profile struct {
	name          string
	givenName     string
	middleName    string
	familyName    string
	email         string
	phone         string
	picture       string
	verifiedEmail bool
	verifiedPhone bool
}

// userTenant is a user's membership of a tenant, with its roles there.
type userTenant struct {
	id    string
	roles []string
}

// inTenant reports whether u is a member of the tenant id.
func (u *user) inTenant(id string) bool {
	return slices.ContainsFunc(u.tenants, func(t userTenant) bool { return t.id == id })
}

// tenantIDs returns the IDs of u's tenants.
func (u *user) tenantIDs() []string {
	ids := make([]string, len(u.tenants))
	for i, t := range u.tenants {
		ids[i] = t.id
	}
	return ids
}

// tenant is a stored tenant. Guarded by Emulator.mu.
type tenant struct {
	id       string
	name     string
	custom   map[string]any
	created  time.Time
	disabled bool
	settings tenantSettings
}

// tenantSettings is both the stored settings and their JSON shape, as
// /v1/mgmt/tenant/settings accepts and returns it.
type tenantSettings struct {
	TenantID                   string   `json:"tenantId,omitempty"`
	Enabled                    bool     `json:"enabled"`
	RefreshTokenExpiration     int32    `json:"refreshTokenExpiration"`
	RefreshTokenExpirationUnit string   `json:"refreshTokenExpirationUnit"`
	SessionTokenExpiration     int32    `json:"sessionTokenExpiration"`
	SessionTokenExpirationUnit string   `json:"sessionTokenExpirationUnit"`
	StepupTokenExpiration      int32    `json:"stepupTokenExpiration"`
	StepupTokenExpirationUnit  string   `json:"stepupTokenExpirationUnit"`
	EnableInactivity           bool     `json:"enableInactivity"`
	InactivityTime             int32    `json:"inactivityTime"`
	InactivityTimeUnit         string   `json:"inactivityTimeUnit"`
	Domains                    []string `json:"domains"`
	SelfProvisioningDomains    []string `json:"selfProvisioningDomains"`
	AuthType                   string   `json:"authType"`
	JITDisabled                bool     `json:"JITDisabled"`
}

// refreshRecord is the server side of an issued refresh token.
type refreshRecord struct {
	sub      string
	anon     bool
	dct      string
	custom   map[string]any
	amr      []string
	override time.Duration // refreshDuration given at sign-in, 0 if none
	exp      time.Time
	revoked  bool
	rotated  bool   // revoked because a refresh or tenant select replaced it
	chain    string // jti of the sign-in token this one descends from
}

// normLogin is the key under which a login ID is unique: emails compare
// case-insensitively, anything else exactly (after trimming spaces).
func normLogin(id string) string {
	id = strings.TrimSpace(id)
	if strings.Contains(id, "@") {
		return strings.ToLower(id)
	}
	return id
}

// findUserLocked finds a user by user ID or login ID.
func (e *Emulator) findUserLocked(idOrLogin string) *user {
	if u := e.users[idOrLogin]; u != nil {
		return u
	}
	return e.userByLoginLocked(idOrLogin)
}

// userByLoginLocked finds a user by login ID only.
func (e *Emulator) userByLoginLocked(loginID string) *user {
	if id, ok := e.byLogin[normLogin(loginID)]; ok {
		return e.users[id]
	}
	return nil
}

// userInput is a validated-later description of a user to create.
type userInput struct {
	loginIDs []string
	profile
	roles    []string
	tenants  []tenantRef
	custom   map[string]any
	ssoApps  []string
	status   string
	test     bool
	password []byte
}

// tenantRef is a tenant association as the management API sends it.
type tenantRef struct {
	TenantID  string   `json:"tenantId"`
	RoleNames []string `json:"roleNames"`
}

// resolveTenantsLocked checks that every tenant exists and merges duplicates.
func (e *Emulator) resolveTenantsLocked(refs []tenantRef) ([]userTenant, *apiError) {
	var out []userTenant
	for _, r := range refs {
		if r.TenantID == "" {
			return nil, missingArg("userTenants.tenantId")
		}
		if e.tenants[r.TenantID] == nil {
			return nil, tenantNotFound(r.TenantID)
		}
		if i := slices.IndexFunc(out, func(t userTenant) bool { return t.id == r.TenantID }); i >= 0 {
			out[i].roles = mergeStrings(out[i].roles, r.RoleNames)
			continue
		}
		out = append(out, userTenant{id: r.TenantID, roles: mergeStrings(nil, r.RoleNames)})
	}
	return out, nil
}

// loginConflictLocked reports the first of ids that is taken by a user other
// than self, or that appears twice in ids.
func (e *Emulator) loginConflictLocked(ids []string, self string) (string, bool) {
	seen := map[string]bool{}
	for _, id := range ids {
		k := normLogin(id)
		if seen[k] {
			return id, true
		}
		seen[k] = true
		if owner, ok := e.byLogin[k]; ok && owner != self {
			return id, true
		}
	}
	return "", false
}

// createUserLocked validates in and stores the user it describes: login
// IDs free, tenants existing, status known (default enabled).
func (e *Emulator) createUserLocked(in *userInput) (*user, *apiError) {
	var ids []string
	for _, id := range in.loginIDs {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, missingArg("loginId")
	}
	if id, taken := e.loginConflictLocked(ids, ""); taken {
		return nil, userExists(id)
	}
	tenants, a := e.resolveTenantsLocked(in.tenants)
	if a != nil {
		return nil, a
	}
	status := in.status
	if status == "" {
		status = "enabled"
	}
	if !validStatus(status) {
		return nil, invalid("unknown user status %q", status)
	}
	p := in.profile
	p.email, p.phone = strings.TrimSpace(p.email), strings.TrimSpace(p.phone)
	now := e.now()
	u := &user{
		id:       randomID("U", 27),
		loginIDs: ids,
		profile:  p,
		roles:    mergeStrings(nil, in.roles),
		tenants:  tenants,
		status:   status,
		test:     in.test,
		custom:   maps.Clone(in.custom),
		ssoApps:  mergeStrings(nil, in.ssoApps),
		password: in.password,
		created:  now,
		modified: now,
		rank:     randomRank(),
	}
	e.users[u.id] = u
	for _, id := range ids {
		e.byLogin[normLogin(id)] = u.id
	}
	return u, nil
}

// setLoginIDsLocked replaces u's login IDs, keeping the index in step. The
// caller has checked for conflicts.
func (e *Emulator) setLoginIDsLocked(u *user, ids []string) {
	for _, id := range u.loginIDs {
		if e.byLogin[normLogin(id)] == u.id {
			delete(e.byLogin, normLogin(id))
		}
	}
	u.loginIDs = ids
	for _, id := range ids {
		e.byLogin[normLogin(id)] = u.id
	}
}

// deleteUserLocked deletes u with its refresh tokens and pending codes.
func (e *Emulator) deleteUserLocked(u *user) {
	e.setLoginIDsLocked(u, nil)
	delete(e.users, u.id)
	e.revokeAllLocked(u.id)
	for k, op := range e.pending {
		if op.userID == u.id {
			delete(e.pending, k)
		}
	}
}

// randomRank draws a user's place in the default search order.
func randomRank() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return binary.LittleEndian.Uint64(b[:])
}

// touchLocked marks u modified now.
func (e *Emulator) touchLocked(u *user) { u.modified = e.now() }

// signedInLocked records a sign-in of u, that is, any call that issues
// tokens for it other than refresh and tenant select. A user made by
// management create stays "invited" until its first sign-in (Descope's
// anonymous-users recipe shows "status":"invited" for such a user; the
// python-sdk README says a new user "starts out in the 'invited' status"),
// which enables it and updates its modified time.
func (e *Emulator) signedInLocked(u *user) {
	if u.status == "invited" {
		u.status = "enabled"
		e.touchLocked(u)
	}
}

// validStatus reports whether s is a user status Descope knows.
func validStatus(s string) bool {
	switch s {
	case "enabled", "disabled", "invited", "expired":
		return true
	}
	return false
}

// mergeStrings appends the values of add missing from dst, dropping empty
// strings; it always returns a non-nil slice.
func mergeStrings(dst, add []string) []string {
	if dst == nil {
		dst = []string{}
	}
	for _, s := range add {
		if s != "" && !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// responseLocked renders u as the SDK's UserResponse.
func (e *Emulator) responseLocked(u *user) *descope.UserResponse {
	r := &descope.UserResponse{
		User: descope.User{
			Name:       u.name,
			GivenName:  u.givenName,
			MiddleName: u.middleName,
			FamilyName: u.familyName,
			Phone:      u.phone,
			Email:      u.email,
		},
		UserID:           u.id,
		LoginIDs:         slices.Clone(u.loginIDs),
		VerifiedEmail:    u.verifiedEmail,
		VerifiedPhone:    u.verifiedPhone,
		RoleNames:        slices.Clone(u.roles),
		Status:           u.status,
		Picture:          u.picture,
		Test:             u.test,
		CustomAttributes: cloneAny(u.custom),
		CreatedTime:      int32(u.created.Unix()),
		ModifiedTime:     int32(u.modified.Unix()),
		Password:         u.password != nil,
		WebAuthn:         len(u.passkeys) > 0,
		OAuth:            oauthFlags(u.oauth),
		SSOAppIDs:        slices.Clone(u.ssoApps),
	}
	r.UserTenants = make([]*descope.UserResponseAssociatedTenant, 0, len(u.tenants))
	for _, t := range u.tenants {
		name := ""
		if tt := e.tenants[t.id]; tt != nil {
			name = tt.name
		}
		r.UserTenants = append(r.UserTenants, &descope.UserResponseAssociatedTenant{
			AssociatedTenant: descope.AssociatedTenant{TenantID: t.id, TenantName: name, Roles: slices.Clone(t.roles)},
			Permissions:      []string{},
		})
	}
	return r
}

// cloneAny deep-copies JSON-like values so snapshots never alias state.
func cloneAny[T any](v T) T {
	var out any
	switch x := any(v).(type) {
	case map[string]any:
		if x == nil {
			return v
		}
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[k] = cloneAny(val)
		}
		out = m
	case []any:
		s := make([]any, len(x))
		for i, val := range x {
			s[i] = cloneAny(val)
		}
		out = s
	default:
		return v
	}
	return out.(T)
}

// tenantResponseLocked renders t as the SDK's Tenant.
func (e *Emulator) tenantResponseLocked(t *tenant) *descope.Tenant {
	return &descope.Tenant{
		ID:                      t.id,
		Name:                    t.name,
		SelfProvisioningDomains: slices.Clone(t.settings.SelfProvisioningDomains),
		CustomAttributes:        cloneAny(t.custom),
		AuthType:                t.settings.AuthType,
		Domains:                 slices.Clone(t.settings.Domains),
		CreatedTime:             int32(t.created.Unix()),
		Disabled:                t.disabled,
	}
}
