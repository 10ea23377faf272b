package anonymous

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// Merging. Descope's own merge (verifying an update onto another account's
// login ID) deletes one of the two accounts at verify, before the application
// could move any data, so the middleware never asks for it: an address that is
// already an account's login ID never gets an update code (it is checked
// before any code is sent and again right before the code is verified). The
// visitor instead proves the address with a sign-in code for the existing
// account (returning.go); with [WithMerge] the merge hook moves the data, and
// only when it succeeded is the anonymous user deleted and the visitor
// switched to the existing account, which gains neither the anonymous tenant
// nor the generated login ID.

// finishMerge verifies a sign-in code for the existing account that owns the
// address, and moves the visitor there.
func (m *Middleware) finishMerge(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, a address, p pendingConversion, mt method, answer string) (*User, error) {
	answer, err := mt.clean(answer)
	if err != nil {
		return nil, err
	}
	if !anon.Anonymous {
		return nil, ErrNotAnonymous
	}
	if owner, err := m.ownerOf(ctx, a); err != nil {
		return nil, err
	} else if owner != p.ExistingID {
		// The account changed hands or went away since the code was sent.
		m.dropPending(ctx, anon.ID)
		return nil, fmt.Errorf("%w: the address changed owner; start again", ErrNoPendingConversion)
	}
	info, err := mt.verify(ctx, m, a, a.value, answer)
	if err != nil {
		return nil, err
	}
	if err := mt.bind(info, a, p.ExistingID, a.value); err != nil {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, err
	}
	if info.SessionToken.ID != p.ExistingID {
		m.revoke(ctx, info.RefreshToken.JWT)
		m.dropPending(ctx, anon.ID)
		return nil, fmt.Errorf("%w: the code signed in another account; start again", ErrNoPendingConversion)
	}
	return m.switchTo(ctx, w, anon, rt, info)
}

// switchTo runs the merge hook and, when it succeeded, deletes the anonymous
// user (a user-backed one) and hands the visitor the existing account's
// tokens. When the hook fails, nothing changes and the tokens are revoked.
// Without WithMerge the visitor is signed in (signIn), and no user deleted.
func (m *Middleware) switchTo(ctx context.Context, w http.ResponseWriter, anon *User, rt refreshToken, info *descope.AuthenticationInfo) (*User, error) {
	existing := m.signedInUser(info)
	if !m.cfg.allowMerge {
		return m.signIn(ctx, w, anon, existing, rt, info)
	}
	if err := m.cfg.onMerge(ctx, anon, existing); err != nil {
		m.revoke(ctx, info.RefreshToken.JWT)
		return nil, during("merge hook", err)
	}
	if !isNative(anon) && !isLocal(anon) {
		// Only a user-backed visitor has an anonymous user to delete.
		_, err := call(m, ctx, "user.delete", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, m.c.Management.User().Delete(ctx, anon.ID)
		})
		if err != nil {
			// The data has moved; a leftover anonymous user is culled later.
			m.cfg.logger.Warn("delete of merged anonymous user failed", "user", anon.ID, "err", err)
		} else {
			rt = m.deletedUsersTokens(ctx, anon.ID, rt)
		}
	}
	m.writeTokens(w, info.SessionToken, info.RefreshToken)
	m.retireAnonymous(ctx, w, anon, rt)
	m.cfg.logger.Info("anonymous user merged", "anonymous", anon.ID, "user", existing.ID)
	setOutcome(ctx, OutcomeSignedIn)
	m.convEvent(ctx, Event{Kind: EventMerged, User: existing})
	return existing, nil
}

// descopeMerged handles a verify at which Descope merged the visitor with
// another account anyway: the address became that account's login ID after
// the last check. Descope keeps the other account (onMergeUseExisting), so
// its data is safe, but it gained the anonymous tenant and the generated
// login ID: both are taken away again. The application learns both user IDs
// through the error ([ErrDescopeMerged]), the error hook and an error log.
func (m *Middleware) descopeMerged(ctx context.Context, anon *User, info *descope.AuthenticationInfo, before *descope.UserResponse, a address, loginID, tenant string) error {
	kept := info.SessionToken.ID
	m.dropPending(ctx, anon.ID)
	if kept != anon.ID {
		_, err := call(m, ctx, "user.remove_tenant", func(ctx context.Context) (*descope.UserResponse, error) {
			return m.c.Management.User().RemoveTenant(ctx, kept, tenant)
		})
		if err != nil {
			m.cfg.logger.Warn("removing the anonymous tenant from a merged account failed", "user", kept, "err", err)
		}
		if m.cfg.isGenerated(loginID) {
			_, err := call(m, ctx, "user.update_login_id", func(ctx context.Context) (*descope.UserResponse, error) {
				return m.c.Management.User().UpdateLoginID(ctx, loginID, "")
			})
			if err != nil {
				m.cfg.logger.Warn("removing a generated login ID from a merged account failed", "user", kept, "err", err)
			}
		}
		m.dropSession(anon)
		m.cfg.logger.Error("descope merged the anonymous user into another account", "anonymous", anon.ID, "user", kept)
		m.convEvent(ctx, Event{Kind: EventDescopeMerged, Err: ErrDescopeMerged})
		return fmt.Errorf("%w: anonymous user %s merged into user %s", ErrDescopeMerged, anon.ID, kept)
	}
	foreign := foreignLoginIDs(info.User, before, a)
	m.cfg.logger.Error("descope merged another account into the anonymous user", "anonymous", anon.ID, "loginIds", foreign)
	m.convEvent(ctx, Event{Kind: EventDescopeMerged, Err: ErrDescopeMerged})
	return fmt.Errorf("%w: account with login IDs %v merged into anonymous user %s", ErrDescopeMerged, foreign, anon.ID)
}

// foreignLoginIDs returns the login IDs of after that were neither on before
// nor the address being verified: the mark of a merge by Descope.
func foreignLoginIDs(after, before *descope.UserResponse, a address) []string {
	if after == nil || before == nil {
		return nil
	}
	var out []string
	for _, id := range after.LoginIDs {
		if (a.value != "" && strings.EqualFold(id, a.value)) || slices.Contains(before.LoginIDs, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// deletedUsersTokens returns rt, the refresh token in force of user userID,
// which was just deleted, with nothing left to revoke: a deleted user's
// sessions end with it (the emulator refuses its refresh tokens, as those of
// a user that no longer exists), so a logout would only earn a refusal
// (which revoke would take as done). retire still forgets the tokens, the
// newest a parallel refresh handed out included.
func (m *Middleware) deletedUsersTokens(ctx context.Context, userID string, rt refreshToken) refreshToken {
	if rt.jwt == "" {
		return rt
	}
	return m.newestHeld(ctx, userID, rt).rotated("")
}
