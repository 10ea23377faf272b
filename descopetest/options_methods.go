package descopetest

import (
	"strings"
	"time"
)

// DefaultMagicLinkTTL is how long a magic link stays valid unless
// WithMagicLinkTTL sets another. Descope makes it a project setting
// (expiration_time in terraform-provider-descope's magic link settings)
// without a documented default; 5 minutes is the upper end of what
// Descope's embedded link settings recommend ("3-5 minutes").
const DefaultMagicLinkTTL = 5 * time.Minute

// OAuthCodeTTL is how long the code that the emulated provider page hands
// back through the redirect can be exchanged, on the emulator's clock, and
// how long the page itself stays usable. Descope does not document it.
const OAuthCodeTTL = time.Minute

// PasskeyTimeout is how long a WebAuthn transaction (from a start call to
// its finish) stays open, on the emulator's clock; the options sent to the
// browser carry it as their timeout. Descope does not document it.
const PasskeyTimeout = 5 * time.Minute

// OAuthConflict is what OAuth authorize/update does when the provider
// account it links is already another user's: the provider's email is
// another user's login ID, or the provider account is linked to another
// user. Descope does not document this case (go-sdk v1.28.0, Descope's
// OpenAPI and the terraform provider's merge_user_accounts say nothing
// about which user survives), so the emulator lets tests run each way.
type OAuthConflict string

const (
	// OAuthConflictReturnExisting merges the signed-in user into the other
	// user and deletes it, as onMergeUseExisting does for OTP updates: the
	// exchange returns the other user's tokens and the signed-in user's
	// refresh tokens stop working. The default: of the plausible answers it
	// is the least convenient for a caller that expects its user to
	// survive.
	OAuthConflictReturnExisting OAuthConflict = "return-existing"
	// OAuthConflictError refuses: the redirect carries err=merge_conflict
	// and nothing changes.
	OAuthConflictError OAuthConflict = "error"
	// OAuthConflictMergeIntoCurrent merges the other user into the
	// signed-in user and deletes it, as a default OTP update with
	// addToLoginIDs does.
	OAuthConflictMergeIntoCurrent OAuthConflict = "merge-into-current"
	// OAuthConflictLinkToCurrent links the provider account to the
	// signed-in user (moving the link from the other user if it had it)
	// and leaves the other user and its login IDs alone.
	OAuthConflictLinkToCurrent OAuthConflict = "link-to-current"
)

// OAuthConflicts lists the OAuthConflict modes, the default first.
var OAuthConflicts = []OAuthConflict{
	OAuthConflictReturnExisting, OAuthConflictError, OAuthConflictMergeIntoCurrent, OAuthConflictLinkToCurrent,
}

// valid reports whether m is one of OAuthConflicts.
func (m OAuthConflict) valid() bool {
	for _, x := range OAuthConflicts {
		if m == x {
			return true
		}
	}
	return false
}

// builtInOAuthProviders are the providers Descope configures in every
// project (go-sdk v1.28.0 descope.OAuthProvider constants).
var builtInOAuthProviders = []string{
	"facebook", "github", "google", "microsoft", "gitlab", "apple", "slack", "discord", "linkedin",
}

// methodConfig is what the options of magic links, OAuth and passkeys set.
// Zero values mean "use the default".
type methodConfig struct {
	magicLinkTTL    time.Duration
	magicLinkURI    string
	approvedDomains []string
	oauthConflict   OAuthConflict
	noMerge         map[string]bool // providers whose merge_user_accounts is off
	customProviders map[string]bool
	passkeyDomain   string
}

// linkTTL is the magic link lifetime.
func (m *methodConfig) linkTTL() time.Duration {
	if m.magicLinkTTL > 0 {
		return m.magicLinkTTL
	}
	return DefaultMagicLinkTTL
}

// conflict is the OAuthConflict mode.
func (m *methodConfig) conflict() OAuthConflict {
	if m.oauthConflict.valid() {
		return m.oauthConflict
	}
	return OAuthConflictReturnExisting
}

// knownProvider reports whether the project has the OAuth provider.
func (m *methodConfig) knownProvider(name string) bool {
	for _, p := range builtInOAuthProviders {
		if p == name {
			return true
		}
	}
	return m.customProviders[name]
}

// WithMagicLinkTTL sets how long a magic link stays valid.
// Default: DefaultMagicLinkTTL (5 minutes). A non-positive d is ignored.
func WithMagicLinkTTL(d time.Duration) Option {
	return ifPositive(d, func(c *config) *time.Duration { return &c.methods.magicLinkTTL })
}

// WithMagicLinkURI sets the project's magic link redirect URL, used when a
// magic link call sends no URI (Descope's OpenAPI: "If omitted - the
// project setting will apply"). Default: none, and such a call is refused
// with E011002.
func WithMagicLinkURI(uri string) Option {
	return func(c *config) { c.methods.magicLinkURI = uri }
}

// WithApprovedDomains sets the project's approved domains: the URI of a
// magic link call must then be on one of them or a subdomain (Descope's
// OpenAPI: the URI "should be part of the allowed Approved Domains").
// Default: none, and any http or https URI is accepted.
func WithApprovedDomains(domains ...string) Option {
	return func(c *config) {
		c.methods.approvedDomains = nil
		for _, d := range domains {
			if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
				c.methods.approvedDomains = append(c.methods.approvedDomains, d)
			}
		}
	}
}

// WithOAuthUpdateConflict sets what OAuth authorize/update does when the
// provider account is already another user's (see OAuthConflict).
// Default: OAuthConflictReturnExisting. An unknown mode is ignored.
func WithOAuthUpdateConflict(mode OAuthConflict) Option {
	return func(c *config) {
		if mode.valid() {
			c.methods.oauthConflict = mode
		}
	}
}

// WithOAuthProvider adds a custom OAuth provider to the project, or
// configures a built-in one (facebook, github, google, microsoft, gitlab,
// apple, slack, discord, linkedin), with its merge_user_accounts setting:
// whether signing in with the provider links the provider account to an
// existing user whose login ID is the provider's email (Descope's default,
// true: "merge existing user accounts with new ones created through OAuth",
// terraform-provider-descope docs). With false, such a sign-in is refused.
// Default: the built-in providers, each merging.
func WithOAuthProvider(name string, mergeUserAccounts bool) Option {
	return func(c *config) {
		if name = strings.TrimSpace(name); name == "" {
			return
		}
		m := &c.methods
		if !m.knownProvider(name) {
			if m.customProviders == nil {
				m.customProviders = map[string]bool{}
			}
			m.customProviders[name] = true
		}
		if m.noMerge == nil {
			m.noMerge = map[string]bool{}
		}
		m.noMerge[name] = !mergeUserAccounts
	}
}

// WithPasskeyDomain sets the WebAuthn relying party ID: passkeys are
// registered for this domain and work on it and its subdomains (Descope's
// passkey setting top_level_domain, terraform-provider-descope docs). The
// origin of every WebAuthn start call must be on it. Default: the host of
// each start call's origin.
func WithPasskeyDomain(domain string) Option {
	return func(c *config) { c.methods.passkeyDomain = strings.ToLower(strings.TrimSpace(domain)) }
}
