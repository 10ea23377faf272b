package descopetest

import (
	"maps"
	"slices"
	"strings"
)

// userFields is the "user" object of sign-up requests.
type userFields struct {
	Name       string `json:"name"`
	GivenName  string `json:"givenName"`
	MiddleName string `json:"middleName"`
	FamilyName string `json:"familyName"`
	Phone      string `json:"phone"`
	Email      string `json:"email"`
}

// userRequest is the body of user create and update, and one entry of a
// batch create.
type userRequest struct {
	LoginID string `json:"loginId"`
	userFields
	DisplayName        string         `json:"displayName"`
	Picture            string         `json:"picture"`
	RoleNames          []string       `json:"roleNames"`
	UserTenants        []tenantRef    `json:"userTenants"`
	CustomAttributes   map[string]any `json:"customAttributes"`
	AdditionalLoginIDs []string       `json:"additionalLoginIds"`
	SSOAppIDs          []string       `json:"ssoAppIDs"`
	Invite             bool           `json:"invite"`
	Test               bool           `json:"test"`
	VerifiedEmail      *bool          `json:"verifiedEmail"`
	VerifiedPhone      *bool          `json:"verifiedPhone"`
	Status             string         `json:"status"`
	Password           string         `json:"password"`
}

// userEnvelope is the answer of the management calls that return one user.
type userEnvelope struct {
	User any `json:"user"`
}

// userBatchRequest is the body of batch user create.
type userBatchRequest struct {
	Users []*userRequest `json:"users"`
}

// userPatchRequest is the body of user patch: a nil field is left as it is.
// The name and the extra login IDs each come under two spellings: go-sdk
// sends name and additionalLoginIds, node-sdk (and Descope's OpenAPI
// PatchUserRequest) displayName and additionalIdentifiers; see spellings.
type userPatchRequest struct {
	patchSpellings
	LoginID            string         `json:"loginId"`
	Name               *string        `json:"name"`
	GivenName          *string        `json:"givenName"`
	MiddleName         *string        `json:"middleName"`
	FamilyName         *string        `json:"familyName"`
	Phone              *string        `json:"phone"`
	Email              *string        `json:"email"`
	Picture            *string        `json:"picture"`
	RoleNames          *[]string      `json:"roleNames"`
	UserTenants        *[]tenantRef   `json:"userTenants"`
	CustomAttributes   map[string]any `json:"customAttributes"`
	VerifiedEmail      *bool          `json:"verifiedEmail"`
	VerifiedPhone      *bool          `json:"verifiedPhone"`
	SSOAppIDs          *[]string      `json:"ssoAppIds"`
	Status             *string        `json:"status"`
	AdditionalLoginIDs *[]string      `json:"additionalLoginIds"`
}

// patchSpellings are the fields of user patch that node-sdk names
// differently from go-sdk.
type patchSpellings struct {
	DisplayName           *string   `json:"displayName"`
	AdditionalIdentifiers *[]string `json:"additionalIdentifiers"`
}

// userTenantRequest is the body of adding a user to a tenant and of
// removing it from one.
type userTenantRequest struct {
	LoginID  string `json:"loginId"`
	TenantID string `json:"tenantId"`
}

// userStatusRequest is the body of user status update.
type userStatusRequest struct {
	LoginID string `json:"loginId"`
	Status  string `json:"status"`
}

// userLoginIDRequest is the body of user login ID update.
type userLoginIDRequest struct {
	LoginID    string `json:"loginId"`
	NewLoginID string `json:"newLoginId"`
}

// userAddressRequest is the body of management email and phone update.
type userAddressRequest struct {
	addressFields
	Verified       bool `json:"verified"`
	FailOnConflict bool `json:"failOnConflict"`
}

// userRefRequest is the body of the management calls that name a user by
// login ID or by user ID: delete and log out.
type userRefRequest struct {
	LoginID string `json:"loginId"`
	UserID  string `json:"userId"`
}

// userDeleteBatchRequest is the body of batch user delete.
type userDeleteBatchRequest struct {
	UserIDs []string `json:"userIds"`
}

// profile returns the names, email and phone of f, which may be nil.
func (f *userFields) profile() profile {
	if f == nil {
		return profile{}
	}
	return profile{name: f.Name, givenName: f.GivenName, middleName: f.MiddleName, familyName: f.FamilyName, email: f.Email, phone: f.Phone}
}

// input describes the user to create with loginID and the fields of f,
// which may be nil.
func (f *userFields) input(loginID string) *userInput {
	return &userInput{loginIDs: []string{loginID}, profile: f.profile()}
}

// displayName is the user's name: displayName, or else name.
func (r *userRequest) displayName() string {
	if r.DisplayName != "" {
		return r.DisplayName
	}
	return r.Name
}

// toProfile returns the names, picture and addresses (trimmed) of r. The
// addresses are verified as r says, or else as verifiedEmail and
// verifiedPhone say.
func (r *userRequest) toProfile(verifiedEmail, verifiedPhone bool) profile {
	p := r.profile()
	p.name, p.picture = r.displayName(), r.Picture
	p.email, p.phone = strings.TrimSpace(p.email), strings.TrimSpace(p.phone)
	p.verifiedEmail, p.verifiedPhone = verifiedEmail, verifiedPhone
	if r.VerifiedEmail != nil {
		p.verifiedEmail = *r.VerifiedEmail
	}
	if r.VerifiedPhone != nil {
		p.verifiedPhone = *r.VerifiedPhone
	}
	return p
}

// input describes the user to create.
func (r *userRequest) input() *userInput {
	in := &userInput{
		loginIDs: append([]string{r.LoginID}, r.AdditionalLoginIDs...),
		profile:  r.toProfile(false, false),
		roles:    r.RoleNames,
		tenants:  r.UserTenants,
		custom:   r.CustomAttributes,
		ssoApps:  r.SSOAppIDs,
		status:   r.Status,
		test:     r.Test,
	}
	if in.status == "" {
		// Invited until the first sign-in, with or without invite: see
		// signedInLocked.
		in.status = "invited"
	}
	if r.Password != "" {
		in.password = hashPassword(r.Password)
	}
	return in
}

// handleUserCreate creates the user the request describes.
func (e *Emulator) handleUserCreate(c *call, req *userRequest) (any, *apiError) {
	if strings.TrimSpace(req.LoginID) == "" {
		return nil, missingArg("loginId")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u, a := e.createUserLocked(req.input())
	if a != nil {
		return nil, a
	}
	return userEnvelope{e.responseLocked(u)}, nil
}

// handleTestUserCreate creates a test user: a user create with test set.
func (e *Emulator) handleTestUserCreate(c *call, req *userRequest) (any, *apiError) {
	req.Test = true
	return e.handleUserCreate(c, req)
}

// handleUserCreateBatch creates each user it can and reports the others
// as failed.
func (e *Emulator) handleUserCreateBatch(c *call, req *userBatchRequest) (any, *apiError) {
	type failed struct {
		Failure string `json:"failure"`
		User    any    `json:"user"`
	}
	created := []any{}
	failures := []failed{}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range req.Users {
		if r == nil {
			failures = append(failures, failed{Failure: "user is null", User: map[string]any{}})
			continue
		}
		u, a := e.createUserLocked(r.input())
		if a != nil {
			failures = append(failures, failed{
				Failure: a.desc + ": " + a.msg,
				User:    map[string]any{"loginIds": []string{r.LoginID}, "email": r.Email, "phone": r.Phone},
			})
			continue
		}
		created = append(created, e.responseLocked(u))
	}
	return map[string]any{"createdUsers": created, "failedUsers": failures}, nil
}

// handleUserLoad answers the user with the query's loginId (a login ID or
// user ID) or userId.
func (e *Emulator) handleUserLoad(c *call) (any, *apiError) {
	q := c.r.URL.Query()
	id := q.Get("loginId")
	if id == "" {
		id = q.Get("userId")
	}
	if id == "" {
		return nil, missingArg("loginId or userId")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.findUserLocked(id)
	if u == nil {
		return nil, mgmtUserNotFound(id)
	}
	return userEnvelope{e.responseLocked(u)}, nil
}

// userForLocked finds the user named by a management body's loginId (a
// login ID or user ID) or userId.
func (e *Emulator) userForLocked(loginID, userID string) (*user, *apiError) {
	id := loginID
	if id == "" {
		id = userID
	}
	if id == "" {
		return nil, missingArg("loginId")
	}
	u := e.findUserLocked(id)
	if u == nil {
		return nil, mgmtUserNotFound(id)
	}
	return u, nil
}

// editUser answers a management call that changes one user: under e.mu it
// finds the user loginID names (a login ID or user ID), lets edit change
// it, and answers with the user as edit left it. edit marks the user
// modified (touchLocked) when it changes it.
func (e *Emulator) editUser(loginID string, edit func(u *user) *apiError) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, a := e.userForLocked(loginID, "")
	if a != nil {
		return nil, a
	}
	if a := edit(u); a != nil {
		return nil, a
	}
	return userEnvelope{e.responseLocked(u)}, nil
}

// replaceAdditionalLocked sets u's login IDs to its first one plus extra.
func (e *Emulator) replaceAdditionalLocked(u *user, extra []string) *apiError {
	var ids []string
	if len(u.loginIDs) > 0 {
		ids = append(ids, u.loginIDs[0])
	}
	for _, id := range extra {
		if id = strings.TrimSpace(id); id != "" && !slices.ContainsFunc(ids, func(x string) bool { return normLogin(x) == normLogin(id) }) {
			ids = append(ids, id)
		}
	}
	if id, taken := e.loginConflictLocked(ids, u.id); taken {
		return userExists(id)
	}
	e.setLoginIDsLocked(u, ids)
	return nil
}

// handleUserUpdate replaces what the request can set of the user. An
// address that changes loses its verified flag unless the request sets it.
func (e *Emulator) handleUserUpdate(c *call, req *userRequest) (any, *apiError) {
	return e.editUser(req.LoginID, func(u *user) *apiError {
		tenants, a := e.resolveTenantsLocked(req.UserTenants)
		if a != nil {
			return a
		}
		if req.AdditionalLoginIDs != nil {
			if a := e.replaceAdditionalLocked(u, req.AdditionalLoginIDs); a != nil {
				return a
			}
		}
		u.profile = req.toProfile(u.verifiedEmail && req.Email == u.email, u.verifiedPhone && req.Phone == u.phone)
		u.roles = mergeStrings(nil, req.RoleNames)
		u.tenants = tenants
		u.custom = maps.Clone(req.CustomAttributes)
		u.ssoApps = mergeStrings(nil, req.SSOAppIDs)
		e.touchLocked(u)
		return nil
	})
}

// handleUserPatch changes what the request sets of the user, after
// checking all of it. Custom attributes are merged into the user's.
func (e *Emulator) handleUserPatch(c *call, req *userPatchRequest) (any, *apiError) {
	if a := req.spellings(); a != nil {
		return nil, a
	}
	return e.editUser(req.LoginID, func(u *user) *apiError {
		// Validate everything before changing anything.
		var tenants []userTenant
		if req.UserTenants != nil {
			var a *apiError
			if tenants, a = e.resolveTenantsLocked(*req.UserTenants); a != nil {
				return a
			}
		}
		if req.Status != nil && !validStatus(*req.Status) {
			return invalid("unknown user status %q", *req.Status)
		}
		if req.AdditionalLoginIDs != nil {
			if a := e.replaceAdditionalLocked(u, *req.AdditionalLoginIDs); a != nil {
				return a
			}
		}
		if req.Email != nil && *req.Email != u.email {
			u.verifiedEmail = false
		}
		if req.Phone != nil && *req.Phone != u.phone {
			u.verifiedPhone = false
		}
		setIfGiven(&u.name, req.Name)
		setIfGiven(&u.givenName, req.GivenName)
		setIfGiven(&u.middleName, req.MiddleName)
		setIfGiven(&u.familyName, req.FamilyName)
		setIfGiven(&u.phone, req.Phone)
		setIfGiven(&u.email, req.Email)
		setIfGiven(&u.picture, req.Picture)
		setIfGiven(&u.status, req.Status)
		setIfGiven(&u.verifiedEmail, req.VerifiedEmail)
		setIfGiven(&u.verifiedPhone, req.VerifiedPhone)
		if req.RoleNames != nil {
			u.roles = mergeStrings(nil, *req.RoleNames)
		}
		if req.UserTenants != nil {
			u.tenants = tenants
		}
		if req.CustomAttributes != nil {
			if u.custom == nil {
				u.custom = map[string]any{}
			}
			maps.Copy(u.custom, req.CustomAttributes)
		}
		if req.SSOAppIDs != nil {
			u.ssoApps = mergeStrings(nil, *req.SSOAppIDs)
		}
		e.touchLocked(u)
		return nil
	})
}

// spellings folds displayName into name and additionalIdentifiers into
// additionalLoginIds. Descope's documents do not say which spelling wins
// when a body has both; rather than pick one silently, the emulator refuses
// a body whose two spellings disagree.
func (r *userPatchRequest) spellings() *apiError {
	if r.DisplayName != nil {
		if r.Name != nil && *r.Name != *r.DisplayName {
			return invalid("name %q and displayName %q disagree", *r.Name, *r.DisplayName)
		}
		r.Name = r.DisplayName
	}
	if r.AdditionalIdentifiers != nil {
		if r.AdditionalLoginIDs != nil && !slices.Equal(*r.AdditionalLoginIDs, *r.AdditionalIdentifiers) {
			return invalid("additionalLoginIds %q and additionalIdentifiers %q disagree", *r.AdditionalLoginIDs, *r.AdditionalIdentifiers)
		}
		r.AdditionalLoginIDs = r.AdditionalIdentifiers
	}
	return nil
}

// setIfGiven sets *dst to *v unless v is nil.
func setIfGiven[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// handleUserAddTenant adds the user to a tenant, which must exist; a
// member stays as it is.
func (e *Emulator) handleUserAddTenant(c *call, req *userTenantRequest) (any, *apiError) {
	if req.TenantID == "" {
		return nil, missingArg("tenantId")
	}
	return e.editUser(req.LoginID, func(u *user) *apiError {
		if e.tenants[req.TenantID] == nil {
			return tenantNotFound(req.TenantID)
		}
		if !u.inTenant(req.TenantID) {
			u.tenants = append(u.tenants, userTenant{id: req.TenantID, roles: []string{}})
			e.touchLocked(u)
		}
		return nil
	})
}

// handleUserRemoveTenant removes the user from a tenant; a user that is not
// a member stays as it is.
func (e *Emulator) handleUserRemoveTenant(c *call, req *userTenantRequest) (any, *apiError) {
	if req.TenantID == "" {
		return nil, missingArg("tenantId")
	}
	return e.editUser(req.LoginID, func(u *user) *apiError {
		if u.inTenant(req.TenantID) {
			u.tenants = slices.DeleteFunc(u.tenants, func(t userTenant) bool { return t.id == req.TenantID })
			e.touchLocked(u)
		}
		return nil
	})
}

// handleUserUpdateStatus sets the user's status.
func (e *Emulator) handleUserUpdateStatus(c *call, req *userStatusRequest) (any, *apiError) {
	if !validStatus(req.Status) {
		return nil, invalid("unknown user status %q", req.Status)
	}
	return e.editUser(req.LoginID, func(u *user) *apiError {
		u.status = req.Status
		e.touchLocked(u)
		return nil
	})
}

// handleUserUpdateLoginID replaces one login ID of the user with another,
// or removes it when the new one is empty. The user is found by that login
// ID only, not by user ID.
func (e *Emulator) handleUserUpdateLoginID(c *call, req *userLoginIDRequest) (any, *apiError) {
	if req.LoginID == "" {
		return nil, missingArg("loginId")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userByLoginLocked(req.LoginID)
	if u == nil {
		return nil, mgmtUserNotFound(req.LoginID)
	}
	newID := strings.TrimSpace(req.NewLoginID)
	if newID != "" {
		if owner := e.userByLoginLocked(newID); owner != nil && owner != u {
			return nil, userExists(newID)
		}
	}
	ids := make([]string, 0, len(u.loginIDs))
	for _, id := range u.loginIDs {
		switch {
		case normLogin(id) != normLogin(req.LoginID):
			if newID == "" || normLogin(id) != normLogin(newID) {
				ids = append(ids, id)
			}
		case newID != "":
			ids = append(ids, newID)
		}
	}
	e.setLoginIDsLocked(u, ids)
	e.touchLocked(u)
	return userEnvelope{e.responseLocked(u)}, nil
}

// handleUserUpdateEmail sets the user's email; see userUpdateAddress.
func (e *Emulator) handleUserUpdateEmail(c *call, req *userAddressRequest) (any, *apiError) {
	return e.userUpdateAddress(req, "email")
}

// handleUserUpdatePhone sets the user's phone; see userUpdateAddress.
func (e *Emulator) handleUserUpdatePhone(c *call, req *userAddressRequest) (any, *apiError) {
	return e.userUpdateAddress(req, "phone")
}

// userUpdateAddress sets the user's email or phone (class), verified as
// the request says; an empty address removes it. With failOnConflict, an
// address that another user has as login ID or as address is refused.
func (e *Emulator) userUpdateAddress(req *userAddressRequest, class string) (any, *apiError) {
	address := req.address(class)
	return e.editUser(req.LoginID, func(u *user) *apiError {
		if req.FailOnConflict && address != "" {
			if owner := e.userByLoginLocked(address); owner != nil && owner != u {
				return userExists(address)
			}
			for _, other := range e.users {
				if other != u && normLogin(other.address(class)) == normLogin(address) {
					return userExists(address)
				}
			}
		}
		u.setAddress(class, address, req.Verified && address != "")
		e.touchLocked(u)
		return nil
	})
}

// handleUserDelete deletes the user with the login ID (or user ID) loginId,
// or else with the user ID userId; deleting no one succeeds.
func (e *Emulator) handleUserDelete(c *call, req *userRefRequest) (any, *apiError) {
	if req.LoginID == "" && req.UserID == "" {
		return nil, missingArg("loginId")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var u *user
	if req.LoginID != "" {
		u = e.findUserLocked(req.LoginID)
	} else {
		u = e.users[req.UserID]
	}
	if u != nil {
		e.deleteUserLocked(u)
	}
	return nil, nil
}

// handleUserDeleteBatch deletes the users with the user IDs; unknown IDs
// are passed over.
func (e *Emulator) handleUserDeleteBatch(c *call, req *userDeleteBatchRequest) (any, *apiError) {
	if len(req.UserIDs) == 0 {
		return nil, missingArg("userIds")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range req.UserIDs {
		if u := e.users[id]; u != nil {
			e.deleteUserLocked(u)
		}
	}
	return nil, nil
}

// handleDeleteTestUsers deletes every test user.
func (e *Emulator) handleDeleteTestUsers(*call) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.users {
		if u.test {
			e.deleteUserLocked(u)
		}
	}
	return nil, nil
}

// handleUserLogout revokes all the refresh tokens of the user.
func (e *Emulator) handleUserLogout(c *call, req *userRefRequest) (any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, a := e.userForLocked(req.LoginID, req.UserID)
	if a != nil {
		return nil, a
	}
	e.revokeAllLocked(u.id)
	return nil, nil
}
