package descopetest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous/descopetest"
	"github.com/descope-contrib/anonymous/internal/testclock"
	"github.com/descope/go-sdk/descope"
)

func ptr[T any](v T) *T { return &v }

func TestUserLifecycle(t *testing.T) {
	emu, sdk, ctx := setup(t)
	users := sdk.Management.User()
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Acme"}))

	u := must[*descope.UserResponse](t)(users.Create(ctx, "Eve@Example.com", &descope.UserRequest{
		User:               descope.User{Name: "Eve", Email: "eve@example.com", Phone: "+15550100"},
		Tenants:            []*descope.AssociatedTenant{{TenantID: tid, Roles: []string{"member"}}},
		CustomAttributes:   map[string]any{"plan": "free"},
		VerifiedEmail:      ptr(true),
		AdditionalLoginIDs: []string{"eve"},
		Roles:              []string{"viewer"},
	}))
	if len(u.UserID) != 28 || u.UserID[0] != 'U' || u.Status != "invited" || u.CreatedTime == 0 || !u.VerifiedEmail || u.VerifiedPhone {
		t.Fatalf("created user = %+v", u)
	}
	if len(u.UserTenants) != 1 || u.UserTenants[0].TenantName != "Acme" || !slices.Equal(u.UserTenants[0].Roles, []string{"member"}) {
		t.Fatalf("user tenants = %+v", u.UserTenants)
	}
	if !slices.Equal(u.LoginIDs, []string{"Eve@Example.com", "eve"}) || u.CustomAttributes["plan"] != "free" {
		t.Fatalf("user = %+v", u)
	}

	// Login IDs are unique, emails case-insensitively.
	for _, id := range []string{"eve@example.com", "eve"} {
		_, err := users.Create(ctx, id, nil)
		wantCode(t, err, "E062107", http.StatusBadRequest)
	}
	_, err := users.Create(ctx, "x@example.com", &descope.UserRequest{AdditionalLoginIDs: []string{"EVE@example.com"}})
	wantCode(t, err, "E062107", http.StatusBadRequest)
	_, err = users.Create(ctx, "y@example.com", &descope.UserRequest{Tenants: []*descope.AssociatedTenant{{TenantID: "Tnope"}}})
	wantCode(t, err, "E011003", http.StatusBadRequest)
	if emu.UserCount() != 1 {
		t.Fatalf("user count = %d", emu.UserCount())
	}

	// Load by login ID (any case for emails) or user ID.
	for _, id := range []string{"eve@EXAMPLE.com", "eve", u.UserID} {
		if got := must[*descope.UserResponse](t)(users.Load(ctx, id)); got.UserID != u.UserID {
			t.Fatalf("load %s = %s", id, got.UserID)
		}
	}
	_, err = users.Load(ctx, "nobody")
	wantCode(t, err, "E112102", http.StatusBadRequest)

	// Patch changes only what is given.
	p := must[*descope.UserResponse](t)(users.Patch(ctx, "eve", &descope.PatchUserRequest{
		GivenName:        ptr("Evelyn"),
		CustomAttributes: map[string]any{"score": 3},
	}))
	if p.GivenName != "Evelyn" || p.Name != "Eve" || p.CustomAttributes["plan"] != "free" || p.CustomAttributes["score"] != float64(3) {
		t.Fatalf("patched user = %+v", p)
	}
	_, err = users.Patch(ctx, "eve", &descope.PatchUserRequest{Tenants: &[]*descope.AssociatedTenant{{TenantID: "Tnope"}}})
	wantCode(t, err, "E011003", http.StatusBadRequest)

	// Update replaces.
	up := must[*descope.UserResponse](t)(users.Update(ctx, u.UserID, &descope.UserRequest{User: descope.User{Name: "E."}}))
	if up.Name != "E." || up.GivenName != "" || len(up.UserTenants) != 0 || up.Email != "" || up.VerifiedEmail {
		t.Fatalf("updated user = %+v", up)
	}

	// Tenants.
	_, err = users.AddTenant(ctx, "eve", "Tnope")
	wantCode(t, err, "E011003", http.StatusBadRequest)
	withT := must[*descope.UserResponse](t)(users.AddTenant(ctx, "eve", tid))
	if len(withT.UserTenants) != 1 || withT.UserTenants[0].TenantID != tid {
		t.Fatalf("after add tenant: %+v", withT.UserTenants)
	}
	if got := must[*descope.UserResponse](t)(users.RemoveTenant(ctx, "eve", tid)); len(got.UserTenants) != 0 {
		t.Fatalf("after remove tenant: %+v", got.UserTenants)
	}

	// Login ID changes.
	other := must[*descope.UserResponse](t)(users.Create(ctx, "frank@example.com", nil))
	_, err = users.UpdateLoginID(ctx, "eve", "Frank@example.com")
	wantCode(t, err, "E062107", http.StatusBadRequest)
	renamed := must[*descope.UserResponse](t)(users.UpdateLoginID(ctx, "eve", "evie"))
	if !slices.Equal(renamed.LoginIDs, []string{"Eve@Example.com", "evie"}) {
		t.Fatalf("login IDs after rename = %v", renamed.LoginIDs)
	}
	removed := must[*descope.UserResponse](t)(users.UpdateLoginID(ctx, "evie", ""))
	if !slices.Equal(removed.LoginIDs, []string{"Eve@Example.com"}) {
		t.Fatalf("login IDs after removal = %v", removed.LoginIDs)
	}
	if _, err := users.Create(ctx, "evie", nil); err != nil {
		t.Fatalf("freed login ID is still taken: %v", err)
	}

	// Email changes.
	_, err = users.UpdateEmail(ctx, u.UserID, "frank@example.com", true, true)
	wantCode(t, err, "E062107", http.StatusBadRequest)
	em := must[*descope.UserResponse](t)(users.UpdateEmail(ctx, u.UserID, "frank@example.com", true, false))
	if em.Email != "frank@example.com" || !em.VerifiedEmail {
		t.Fatalf("after update email: %+v", em)
	}

	// Status.
	if d := must[*descope.UserResponse](t)(users.Deactivate(ctx, "evie")); d.Status != "disabled" {
		t.Fatalf("status = %s", d.Status)
	}
	_, err = sdk.Management.JWT().SignIn(ctx, "evie", nil)
	if !descope.IsUnauthorizedError(err) {
		t.Fatalf("sign-in of disabled user: %v", err)
	}

	// Delete is idempotent; batch delete ignores unknown IDs.
	check(t, users.Delete(ctx, "eve@example.com"))
	check(t, users.Delete(ctx, "eve@example.com"))
	if _, ok := emu.User(u.UserID); ok {
		t.Fatal("deleted user still exists")
	}
	check(t, users.DeleteBatch(ctx, []string{other.UserID, "Unope"}))
	if n := emu.UserCount(); n != 1 {
		t.Fatalf("user count after deletes = %d, want 1 (evie)", n)
	}
}

func TestCreateBatch(t *testing.T) {
	emu, sdk, ctx := setup(t)
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "dup@example.com", nil))
	res := must[*descope.UsersBatchResponse](t)(sdk.Management.User().CreateBatch(ctx, []*descope.BatchUser{
		{LoginID: "b1@example.com"},
		{LoginID: "DUP@example.com"},
		{LoginID: "b2@example.com", UserRequest: descope.UserRequest{User: descope.User{Email: "b2@example.com"}}},
		{LoginID: "b1@example.com"},
	}))
	if len(res.CreatedUsers) != 2 || len(res.FailedUsers) != 2 {
		t.Fatalf("batch result: %d created, %d failed", len(res.CreatedUsers), len(res.FailedUsers))
	}
	if res.FailedUsers[0].Failure == "" || res.FailedUsers[0].User == nil || res.FailedUsers[0].User.LoginIDs[0] != "DUP@example.com" {
		t.Fatalf("failure = %+v", res.FailedUsers[0])
	}
	if emu.UserCount() != 3 {
		t.Fatalf("user count = %d", emu.UserCount())
	}
}

func TestSearch(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	emu, sdk, ctx := setup(t, descopetest.WithClock(clk.Now))
	users := sdk.Management.User()
	tid := must[string](t)(sdk.Management.Tenant().Create(ctx, &descope.TenantRequest{Name: "Search"}))

	var ids []string
	for i := range 10 {
		req := &descope.UserRequest{User: descope.User{Email: string(rune('a'+i)) + "@example.com"}}
		if i%2 == 0 {
			req.Tenants = []*descope.AssociatedTenant{{TenantID: tid}}
		}
		if i == 3 {
			req.Phone = "+15550003"
		}
		u := must[*descope.UserResponse](t)(users.Create(ctx, string(rune('a'+i))+"-login", req))
		ids = append(ids, u.UserID)
		clk.Add(time.Minute)
	}
	must[*descope.UserResponse](t)(users.Deactivate(ctx, "b-login"))
	must[*descope.UserResponse](t)(users.CreateTestUser(ctx, "test-user", nil))

	// Results in creation order, unless the test sorts otherwise.
	search := func(o *descope.UserSearchOptions) ([]string, int) {
		t.Helper()
		if o == nil {
			o = &descope.UserSearchOptions{}
		}
		if o.Sort == nil {
			o.Sort = []descope.UserSearchSort{{Field: "createdTime"}}
		}
		found, total, err := users.SearchAll(ctx, o)
		check(t, err)
		var out []string
		for _, u := range found {
			out = append(out, u.UserID)
		}
		return out, total
	}

	all, total := search(nil)
	if total != 10 || !slices.Equal(all, ids) {
		t.Fatalf("all users (ordered by creation, no test users): %d %v", total, all)
	}
	if got, _ := search(&descope.UserSearchOptions{TenantIDs: []string{tid}}); !slices.Equal(got, []string{ids[0], ids[2], ids[4], ids[6], ids[8]}) {
		t.Fatalf("tenant filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{LoginIDs: []string{"c-login", "e-login"}}); !slices.Equal(got, []string{ids[2], ids[4]}) {
		t.Fatalf("login ID filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{UserIDs: []string{ids[9]}}); !slices.Equal(got, ids[9:]) {
		t.Fatalf("user ID filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{Emails: []string{"D@example.com"}}); !slices.Equal(got, ids[3:4]) {
		t.Fatalf("email filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{Phones: []string{"+15550003"}}); !slices.Equal(got, ids[3:4]) {
		t.Fatalf("phone filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{Statuses: []descope.UserStatus{descope.UserStatusDisabled}}); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("status filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{Text: "F@EXAMPLE"}); !slices.Equal(got, ids[5:6]) {
		t.Fatalf("text filter = %v", got)
	}
	if got, _ := search(&descope.UserSearchOptions{TestUsersOnly: true}); len(got) != 1 {
		t.Fatalf("test users = %v", got)
	}

	// Created time range in milliseconds, inclusive: users 2..4.
	start := time.Date(2030, 1, 1, 0, 2, 0, 0, time.UTC)
	got, total := search(&descope.UserSearchOptions{
		FromCreatedTime: start.UnixMilli(),
		ToCreatedTime:   start.Add(2 * time.Minute).UnixMilli(),
	})
	if total != 3 || !slices.Equal(got, ids[2:5]) {
		t.Fatalf("created range = %d %v", total, got)
	}
	// Modified range: b-login was deactivated at the end.
	if got, _ := search(&descope.UserSearchOptions{FromModifiedTime: start.Add(8 * time.Minute).UnixMilli()}); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("modified range = %v", got)
	}

	// Paging, 0-based.
	var paged []string
	for page := int32(0); ; page++ {
		got, total := search(&descope.UserSearchOptions{Limit: 4, Page: page})
		if total != 10 {
			t.Fatalf("page %d total = %d", page, total)
		}
		if len(got) == 0 {
			break
		}
		paged = append(paged, got...)
	}
	if !slices.Equal(paged, ids) {
		t.Fatalf("paged = %v", paged)
	}
	_, _, err := users.SearchAll(ctx, &descope.UserSearchOptions{Limit: -1})
	if err == nil {
		t.Fatal("negative limit accepted")
	}

	// Seeded created times reorder results.
	check(t, emu.SetUserCreatedTime("j-login", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)))
	if got, _ := search(&descope.UserSearchOptions{Limit: 1}); !slices.Equal(got, ids[9:]) {
		t.Fatalf("oldest after seeding = %v", got)
	}
	if err := emu.SetUserCreatedTime("nobody", time.Now()); err == nil {
		t.Fatal("SetUserCreatedTime of unknown user succeeded")
	}
	if u, ok := emu.User("j-login"); !ok || u.CreatedTime != int32(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) {
		t.Fatalf("seeded user = %+v", u)
	}
}

func TestTenants(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	_, sdk, ctx := setup(t, descopetest.WithClock(clk.Now))
	tenants := sdk.Management.Tenant()
	id := must[string](t)(tenants.Create(ctx, &descope.TenantRequest{Name: "Alpha", SelfProvisioningDomains: []string{"alpha.com"}, CustomAttributes: map[string]any{"tier": "gold"}}))
	if len(id) != 28 || id[0] != 'T' {
		t.Fatalf("generated tenant ID = %q", id)
	}
	check(t, tenants.CreateWithID(ctx, "beta", &descope.TenantRequest{Name: "Beta"}))
	wantCode(t, tenants.CreateWithID(ctx, "beta", &descope.TenantRequest{Name: "Other"}), "E011003", http.StatusBadRequest)
	_, err := tenants.Create(ctx, &descope.TenantRequest{Name: "alpha"})
	wantCode(t, err, "E011003", http.StatusBadRequest)

	a := must[*descope.Tenant](t)(tenants.Load(ctx, id))
	if a.Name != "Alpha" || !slices.Equal(a.SelfProvisioningDomains, []string{"alpha.com"}) || a.CustomAttributes["tier"] != "gold" ||
		a.CreatedTime != int32(clk.Now().Unix()) {
		t.Fatalf("loaded tenant = %+v", a)
	}
	_, err = tenants.Load(ctx, "nope")
	wantCode(t, err, "E011003", http.StatusBadRequest)

	all := must[[]*descope.Tenant](t)(tenants.LoadAll(ctx))
	if len(all) != 2 || all[0].ID != id || all[1].ID != "beta" {
		t.Fatalf("load all = %+v", all)
	}
	found := must[[]*descope.Tenant](t)(tenants.SearchAll(ctx, &descope.TenantSearchOptions{Names: []string{"BETA"}}))
	if len(found) != 1 || found[0].ID != "beta" {
		t.Fatalf("search by name = %+v", found)
	}
	found = must[[]*descope.Tenant](t)(tenants.SearchAll(ctx, &descope.TenantSearchOptions{IDs: []string{id, "nope"}}))
	if len(found) != 1 || found[0].ID != id {
		t.Fatalf("search by ID = %+v", found)
	}
	found = must[[]*descope.Tenant](t)(tenants.SearchAll(ctx, &descope.TenantSearchOptions{CustomAttributes: map[string]any{"tier": "gold"}}))
	if len(found) != 1 || found[0].ID != id {
		t.Fatalf("search by attribute = %+v", found)
	}

	check(t, tenants.Update(ctx, "beta", &descope.TenantRequest{Name: "Beta 2"}))
	if b := must[*descope.Tenant](t)(tenants.Load(ctx, "beta")); b.Name != "Beta 2" {
		t.Fatalf("updated tenant = %+v", b)
	}
	must[*descope.UserResponse](t)(sdk.Management.User().Create(ctx, "member", &descope.UserRequest{Tenants: []*descope.AssociatedTenant{{TenantID: "beta"}}}))
	check(t, tenants.Delete(ctx, "beta", false))
	if u := must[*descope.UserResponse](t)(sdk.Management.User().Load(ctx, "member")); len(u.UserTenants) != 0 {
		t.Fatalf("member of deleted tenant: %+v", u.UserTenants)
	}
}

func TestSearchSort(t *testing.T) {
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	_, sdk, ctx := setup(t, descopetest.WithClock(clk.Now))
	users := sdk.Management.User()
	var created []string
	for i := range 20 {
		u := must[*descope.UserResponse](t)(users.Create(ctx, fmt.Sprintf("user-%02d", i), nil))
		created = append(created, u.UserID)
		clk.Add(time.Second)
	}
	search := func(o *descope.UserSearchOptions) []string {
		t.Helper()
		found, total, err := users.SearchAll(ctx, o)
		check(t, err)
		if total != len(created) {
			t.Fatalf("total = %d", total)
		}
		var ids []string
		for _, u := range found {
			ids = append(ids, u.UserID)
		}
		return ids
	}
	// pages collects every page of o, 7 users a page.
	pages := func(o descope.UserSearchOptions) []string {
		t.Helper()
		var all []string
		o.Limit = 7
		for o.Page = 0; ; o.Page++ {
			got := search(&o)
			if len(got) == 0 {
				return all
			}
			all = append(all, got...)
		}
	}
	reversed := slices.Clone(created)
	slices.Reverse(reversed)

	asc := []descope.UserSearchSort{{Field: "createdTime"}}
	desc := []descope.UserSearchSort{{Field: "createdTime", Desc: true}}
	if got := search(&descope.UserSearchOptions{Sort: asc}); !slices.Equal(got, created) {
		t.Fatalf("ascending = %v", got)
	}
	if got := search(&descope.UserSearchOptions{Sort: desc}); !slices.Equal(got, reversed) {
		t.Fatalf("descending = %v", got)
	}
	if got := pages(descope.UserSearchOptions{Sort: desc}); !slices.Equal(got, reversed) {
		t.Fatalf("descending, paged = %v", got)
	}
	// Keyset paging: the next page starts after the last created time seen.
	from := int64(0)
	var keyset []string
	for {
		found, _, err := users.SearchAll(ctx, &descope.UserSearchOptions{Sort: asc, Limit: 6, FromCreatedTime: from})
		check(t, err)
		if len(found) == 0 {
			break
		}
		for _, u := range found {
			keyset = append(keyset, u.UserID)
		}
		from = int64(found[len(found)-1].CreatedTime)*1000 + 1000
	}
	if !slices.Equal(keyset, created) {
		t.Fatalf("keyset paged = %v", keyset)
	}

	// A later sort entry breaks the ties of an earlier one: the two users
	// patched at the same instant come first, by creation; the others were
	// last modified when created.
	for _, id := range []string{"user-11", "user-03"} {
		must[*descope.UserResponse](t)(users.Patch(ctx, id, &descope.PatchUserRequest{GivenName: ptr("x")}))
	}
	got := search(&descope.UserSearchOptions{Sort: []descope.UserSearchSort{{Field: "modifiedTime", Desc: true}, {Field: "createdTime"}}})
	if want := append([]string{created[3], created[11]}, slices.DeleteFunc(slices.Clone(reversed), func(id string) bool {
		return id == created[3] || id == created[11]
	})...); !slices.Equal(got, want) {
		t.Fatalf("modified desc, created asc = %v, want %v", got, want)
	}

	// Without sort: every user exactly once, the same order on every call
	// and through pages, and not creation order in either direction.
	plain := search(nil)
	if sorted := slices.Sorted(slices.Values(plain)); !slices.Equal(sorted, slices.Sorted(slices.Values(created))) {
		t.Fatalf("unsorted result is not the whole set: %v", plain)
	}
	if slices.Equal(plain, created) || slices.Equal(plain, reversed) {
		t.Fatal("the default order is creation order")
	}
	if again := search(nil); !slices.Equal(again, plain) {
		t.Fatalf("default order changed between calls: %v then %v", plain, again)
	}
	if paged := pages(descope.UserSearchOptions{}); !slices.Equal(paged, plain) {
		t.Fatalf("default order paged = %v, want %v", paged, plain)
	}

	// Unknown sort fields are refused.
	_, _, err := users.SearchAll(ctx, &descope.UserSearchOptions{Sort: []descope.UserSearchSort{{Field: "favouriteColour"}}})
	wantCode(t, err, "E011003", http.StatusBadRequest)
}
