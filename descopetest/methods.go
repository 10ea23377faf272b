package descopetest

import (
	"maps"
	"time"
)

// methodState is what magic links, OAuth and passkeys keep besides the
// users. Guarded by Emulator.mu.
type methodState struct {
	links       map[string]*linkOp        // token -> magic link waiting to be verified
	linkOutbox  map[string]string         // normalized address -> latest link sent there
	oauthStates map[string]*oauthState    // state -> authorization waiting on the provider page
	oauthCodes  map[string]*oauthCode     // code -> authorization waiting to be exchanged
	accounts    map[string][]oauthAccount // provider -> accounts entered on its page, newest first
	identities  map[string]string         // provider account key -> user ID (see identityKey)
	passkeyTxs  map[string]*passkeyTx     // transaction ID -> WebAuthn ceremony in progress
	credentials map[string]string         // credential ID (base64url) -> user ID
}

// newMethodState returns an empty methodState.
func newMethodState() methodState {
	return methodState{
		links:       map[string]*linkOp{},
		linkOutbox:  map[string]string{},
		oauthStates: map[string]*oauthState{},
		oauthCodes:  map[string]*oauthCode{},
		accounts:    map[string][]oauthAccount{},
		identities:  map[string]string{},
		passkeyTxs:  map[string]*passkeyTx{},
		credentials: map[string]string{},
	}
}

// sweepAbove is the size from which a map of pending operations is swept
// of expired entries as new ones are added.
const sweepAbove = 1024

// sweepExpired deletes the entries of m that expired by now, when m holds
// sweepAbove entries or a power of two times as many: the sweeps cost a
// constant per entry added, however many stay pending.
func sweepExpired[T any](m map[string]T, now time.Time, expires func(T) time.Time) {
	if n := len(m); n < sweepAbove || n&(n-1) != 0 {
		return
	}
	maps.DeleteFunc(m, func(_ string, v T) bool { return !now.Before(expires(v)) })
}

// oauthFlags renders a user's linked OAuth providers as UserResponse.OAuth.
func oauthFlags(links map[string]string) map[string]bool {
	out := make(map[string]bool, len(links))
	for p := range links {
		out[p] = true
	}
	return out
}

// identityKey is the key of a provider account in methodState.identities.
func identityKey(provider, sub string) string { return provider + "|" + sub }

// identityOwnerLocked returns the user the provider account is linked to,
// or nil.
func (e *Emulator) identityOwnerLocked(provider, sub string) *user {
	u := e.users[e.methods.identities[identityKey(provider, sub)]]
	if u == nil || u.oauth[provider] != sub {
		return nil // never linked, or its user is gone or relinked
	}
	return u
}

// linkIdentityLocked links the provider account to u, replacing the
// account u had with that provider and unlinking it from any other user.
func (e *Emulator) linkIdentityLocked(u *user, provider, sub string) {
	if prev := e.identityOwnerLocked(provider, sub); prev != nil && prev != u {
		delete(prev.oauth, provider)
		e.touchLocked(prev)
	}
	if u.oauth == nil {
		u.oauth = map[string]string{}
	}
	u.oauth[provider] = sub
	e.methods.identities[identityKey(provider, sub)] = u.id
}

// credentialOwnerLocked returns the user who registered the credential ID
// (base64url) and the passkey, or nils.
func (e *Emulator) credentialOwnerLocked(id string) (*user, *passkey) {
	u := e.users[e.methods.credentials[id]]
	if u == nil {
		return nil, nil
	}
	for _, pk := range u.passkeys {
		if pk.id == id {
			return u, pk
		}
	}
	return nil, nil
}

// moveMethodsLocked gives kept the OAuth accounts and passkeys of gone when
// the two are merged (see mergeUsersLocked). Descope does not document what
// a merge does with them; the emulator keeps every way of signing in that
// leads to the person: kept gains gone's passkeys, and gone's provider
// accounts for the providers kept has none of (the others are dropped).
func (e *Emulator) moveMethodsLocked(kept, gone *user) {
	for provider, sub := range gone.oauth {
		if _, has := kept.oauth[provider]; !has {
			e.linkIdentityLocked(kept, provider, sub)
		}
	}
	for _, pk := range gone.passkeys {
		kept.passkeys = append(kept.passkeys, pk)
		e.methods.credentials[pk.id] = kept.id
	}
	gone.oauth, gone.passkeys = nil, nil
}
