package descopetest

import "slices"

// mergeUsersLocked merges gone into kept and deletes gone, as Descope does
// when a user verifies an email or phone update with addToLoginIDs onto an
// address that is already another user's login ID.
//
// What Descope documents: verifying the code merges the two users. By
// default the other user (the owner of the address) is merged into the
// updating user (the owner of the refresh token) and deleted; with
// onMergeUseExisting the updating user is merged into the other one and
// deleted, its refresh tokens stop working, and verify returns the other
// user's tokens. Sources: descope/swift-sdk src/types/Others.swift
// (UpdateOptions.onMergeUseExisting), descope/flutter-sdk
// lib/src/types/others.dart, and descope-java PR #374 ("without
// failOnConflict the server merges the colliding user ... and deletes it,
// returning 200"). go-sdk v1.28.0 cannot send failOnConflict, so the
// emulator never refuses the merge.
//
// What the documents leave open, and the emulator's choice: kept gains
// gone's login IDs (after its own), gone's tenants with their roles (roles
// of a shared tenant are united), gone's project roles, and gone's email and
// phone where kept has none of that kind (with gone's verified flag; the
// same address on both is verified if either verified it), and gone's
// passkeys and OAuth accounts (see moveMethodsLocked). Everything else of
// gone (names, picture, custom attributes, password) is lost. Deleting gone
// revokes all its refresh tokens and drops its pending codes.
func (e *Emulator) mergeUsersLocked(kept, gone *user) {
	goneIDs := slices.Clone(gone.loginIDs)
	e.deleteUserLocked(gone)

	ids := slices.Clone(kept.loginIDs)
	for _, id := range goneIDs {
		if !slices.ContainsFunc(ids, func(x string) bool { return normLogin(x) == normLogin(id) }) {
			ids = append(ids, id)
		}
	}
	e.setLoginIDsLocked(kept, ids)

	mergeAddress(&kept.email, &kept.verifiedEmail, gone.email, gone.verifiedEmail)
	mergeAddress(&kept.phone, &kept.verifiedPhone, gone.phone, gone.verifiedPhone)

	for _, t := range gone.tenants {
		if i := slices.IndexFunc(kept.tenants, func(k userTenant) bool { return k.id == t.id }); i >= 0 {
			kept.tenants[i].roles = mergeStrings(kept.tenants[i].roles, t.roles)
			continue
		}
		if e.tenants[t.id] != nil {
			kept.tenants = append(kept.tenants, userTenant{id: t.id, roles: mergeStrings(nil, t.roles)})
		}
	}
	kept.roles = mergeStrings(kept.roles, gone.roles)
	e.moveMethodsLocked(kept, gone)
	e.touchLocked(kept)
}

// mergeAddress adopts the other user's address when dst has none, and
// unites the verified flags when both hold the same address.
func mergeAddress(dst *string, verified *bool, other string, otherVerified bool) {
	switch {
	case other == "":
	case *dst == "":
		*dst, *verified = other, otherVerified
	case normLogin(*dst) == normLogin(other):
		*verified = *verified || otherVerified
	}
}
