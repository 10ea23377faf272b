package descopetest

import "slices"

// Changing a signed-in user's email or phone: one-time codes (otp.go) and
// magic links (magiclink.go) start and finish the change the same way, and
// differ only in what they send and how it comes back.

// updateRequest is the body of OTP and magic link email and phone update:
// the user, the new address and the UpdateOptions that decide whether it
// becomes a login ID and who survives a merge (go-sdk descope.UpdateOptions,
// spread into the body as core-js-sdk does).
type updateRequest struct {
	addressFields
	AddToLoginIDs      bool `json:"addToLoginIDs"`
	OnMergeUseExisting bool `json:"onMergeUseExisting"`
}

// addressUpdate is a change of a user's email or phone that waits for its
// code or link.
type addressUpdate struct {
	class              string // "email" or "phone"
	userID             string // the user being updated
	loginID            string // the login ID the update named
	address            string
	addToLoginIDs      bool
	onMergeUseExisting bool
}

// startUpdate checks a request to change the signed-in user's address of
// the class: the login ID must be the call's user's, the address one of the
// class. Under e.mu it hands the update to send, which delivers its code or
// link, and answers the masked address.
func (e *Emulator) startUpdate(c *call, req *updateRequest, class string, send func(addressUpdate)) (any, *apiError) {
	address := req.address(class)
	if a := required(field{"loginId", req.LoginID}, field{class, address}); a != nil {
		return nil, a
	}
	if !looksLike(class, address) {
		return nil, invalid("%q is not a valid %s", address, addressNoun(class))
	}
	return e.withSession(c, func(rec *refreshRecord, u *user) (any, *apiError) {
		if rec.anon {
			return nil, invalid("anonymous sessions have no user to update")
		}
		if e.userByLoginLocked(req.LoginID) != u {
			return nil, unauthorized("login ID %q does not belong to the signed-in user", req.LoginID)
		}
		send(addressUpdate{
			class:              class,
			userID:             u.id,
			loginID:            req.LoginID,
			address:            address,
			addToLoginIDs:      req.AddToLoginIDs,
			onMergeUseExisting: req.OnMergeUseExisting,
		})
		return masked(class, address), nil
	})
}

// applyUpdateLocked finishes a verified email or phone update: the address
// becomes the user's verified email or phone and, with addToLoginIDs, one of
// its login IDs. When it is already another user's login ID, the two users
// are merged first (see mergeUsersLocked) and the tokens returned are those
// of the user that is kept. method is the delivery method, for the amr
// claim.
func (e *Emulator) applyUpdateLocked(upd *addressUpdate, method string) (*grant, *apiError) {
	u := e.users[upd.userID]
	if u == nil {
		return nil, authUserNotFound(upd.loginID)
	}
	kept := u
	if upd.addToLoginIDs {
		if other := e.userByLoginLocked(upd.address); other != nil && other != u {
			gone := other
			if upd.onMergeUseExisting {
				kept, gone = other, u
			}
			if u.status == "disabled" || kept.status == "disabled" {
				return nil, userDisabled()
			}
			e.mergeUsersLocked(kept, gone)
		}
	}
	if kept.status == "disabled" {
		return nil, userDisabled()
	}
	kept.setAddress(upd.class, upd.address, true)
	if upd.addToLoginIDs && e.userByLoginLocked(upd.address) == nil {
		e.setLoginIDsLocked(kept, append(slices.Clone(kept.loginIDs), upd.address))
	}
	e.touchLocked(kept)
	return e.signInGrantLocked(kept, method), nil
}
