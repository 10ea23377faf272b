package descopetest

import (
	"cmp"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// searchRequest is the body of user search (v2).
type searchRequest struct {
	TenantIDs        []string       `json:"tenantIds"`
	RoleNames        []string       `json:"roleNames"`
	Limit            int32          `json:"limit"`
	Page             int32          `json:"page"`
	Sort             []searchSort   `json:"sort"`
	Text             string         `json:"text"`
	LoginIDs         []string       `json:"loginIds"`
	Statuses         []string       `json:"statuses"`
	Emails           []string       `json:"emails"`
	Phones           []string       `json:"phones"`
	UserIDs          []string       `json:"userIds"`
	SSOAppIDs        []string       `json:"ssoAppIds"`
	CustomAttributes map[string]any `json:"customAttributes"`
	TestUsersOnly    bool           `json:"testUsersOnly"`
	WithTestUser     bool           `json:"withTestUser"`
	FromCreatedTime  int64          `json:"fromCreatedTime"`
	ToCreatedTime    int64          `json:"toCreatedTime"`
	FromModifiedTime int64          `json:"fromModifiedTime"`
	ToModifiedTime   int64          `json:"toModifiedTime"`
}

// searchSort is one entry of a search's sort list, as go-sdk's
// UserSearchSort sends it.
type searchSort struct {
	Field string `json:"field"`
	Desc  bool   `json:"desc"`
}

// DefaultSearchLimit is the page size of user search when none is given.
const DefaultSearchLimit = 100

// anyFold reports whether list holds v, ignoring case.
func anyFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

// matches reports whether u passes every filter of r. Test users match
// only with testUsersOnly or withTestUser.
func (r *searchRequest) matches(u *user) bool {
	if r.TestUsersOnly && !u.test || !r.TestUsersOnly && !r.WithTestUser && u.test {
		return false
	}
	if len(r.TenantIDs) > 0 && !slices.ContainsFunc(r.TenantIDs, u.inTenant) {
		return false
	}
	if len(r.RoleNames) > 0 && !slices.ContainsFunc(r.RoleNames, func(role string) bool { return slices.Contains(u.roles, role) }) {
		return false
	}
	if len(r.LoginIDs) > 0 && !slices.ContainsFunc(u.loginIDs, func(id string) bool {
		return slices.ContainsFunc(r.LoginIDs, func(q string) bool { return normLogin(q) == normLogin(id) })
	}) {
		return false
	}
	if len(r.UserIDs) > 0 && !slices.Contains(r.UserIDs, u.id) {
		return false
	}
	if len(r.Statuses) > 0 && !slices.Contains(r.Statuses, u.status) {
		return false
	}
	if len(r.Emails) > 0 && (u.email == "" || !anyFold(r.Emails, u.email)) {
		return false
	}
	if len(r.Phones) > 0 && (u.phone == "" || !slices.Contains(r.Phones, u.phone)) {
		return false
	}
	if len(r.SSOAppIDs) > 0 && !slices.ContainsFunc(r.SSOAppIDs, func(id string) bool { return slices.Contains(u.ssoApps, id) }) {
		return false
	}
	for k, want := range r.CustomAttributes {
		if !attributeMatches(u.custom[k], want) {
			return false
		}
	}
	if r.Text != "" && !textMatches(u, strings.ToLower(r.Text)) {
		return false
	}
	created, modified := u.created.UnixMilli(), u.modified.UnixMilli()
	return (r.FromCreatedTime == 0 || created >= r.FromCreatedTime) &&
		(r.ToCreatedTime == 0 || created <= r.ToCreatedTime) &&
		(r.FromModifiedTime == 0 || modified >= r.FromModifiedTime) &&
		(r.ToModifiedTime == 0 || modified <= r.ToModifiedTime)
}

// attributeMatches compares a stored custom attribute with a search value;
// a list of values matches any of them.
func attributeMatches(have, want any) bool {
	if list, ok := want.([]any); ok {
		return slices.ContainsFunc(list, func(w any) bool { return jsonEqual(have, w) })
	}
	return jsonEqual(have, want)
}

// jsonEqual compares two values as their JSON encodings.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}

// textMatches reports whether any of u's IDs, names or addresses holds
// text, which is in lower case.
func textMatches(u *user, text string) bool {
	fields := append([]string{u.id, u.name, u.givenName, u.familyName, u.email, u.phone}, u.loginIDs...)
	return slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), text) })
}

// handleUserSearch answers a page of the users that match, in the order
// sortUsers gives, with the total count.
func (e *Emulator) handleUserSearch(c *call, req *searchRequest) (any, *apiError) {
	if req.Limit < 0 {
		return nil, invalid("limit must not be negative")
	}
	if req.Page < 0 {
		return nil, invalid("page must not be negative")
	}
	for _, o := range req.Sort {
		if !sortable[o.Field] {
			return nil, invalid("cannot sort users by %q: the emulator sorts by createdTime or modifiedTime", o.Field)
		}
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = DefaultSearchLimit
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var found []*user
	for _, u := range e.users {
		if req.matches(u) {
			found = append(found, u)
		}
	}
	sortUsers(found, req.Sort)
	users := []any{}
	if start := int64(req.Page) * int64(limit); start < int64(len(found)) {
		end := min(start+int64(limit), int64(len(found)))
		for _, u := range found[start:end] {
			users = append(users, e.responseLocked(u))
		}
	}
	return map[string]any{"users": users, "total": len(found)}, nil
}

// sortable are the fields search can sort by.
var sortable = map[string]bool{"createdTime": true, "modifiedTime": true}

// sortUsers orders search results by the sort list, each entry breaking the
// ties of the one before, then by the default order.
//
// Descope documents that search accepts a sort (the OpenAPI SortField) but
// not the order without one. The emulator picks one no caller can lean on:
// a random rank each user draws at creation, then user ID. It is not
// creation order, yet it is the same on every call while the set of users
// does not change, so paging a stable result never repeats or skips a user.
// Deleting users shifts the pages after them, as it would with any order.
func sortUsers(us []*user, by []searchSort) {
	slices.SortFunc(us, func(a, b *user) int {
		for _, o := range by {
			var c int
			switch o.Field {
			case "createdTime":
				c = a.created.Compare(b.created)
			case "modifiedTime":
				c = a.modified.Compare(b.modified)
			}
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
}

// handleTestUserSearch answers a search of test users only
// (/v2/mgmt/user/search/test, Descope's OpenAPI SearchTestUsers): a user
// search with testUsersOnly set, whatever the body says.
func (e *Emulator) handleTestUserSearch(c *call, req *searchRequest) (any, *apiError) {
	req.TestUsersOnly, req.WithTestUser = true, true
	return e.handleUserSearch(c, req)
}
