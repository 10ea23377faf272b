package descopetest

import "maps"

// JWT templates. A Descope project can give its users' tokens claims of its
// own through a user JWT template (Project Settings > JWT Templates,
// docs.descope.com/project-settings/jwt-templates), whose custom claims may
// take dynamic values, "pulled from Descope user attributes" and refreshed
// when the attribute changes (docs.descope.com/management/token). The
// dynamic user keys include user.loginIds ("all unique identifiers for a
// user. Usually an email and/or phone"), user.email and user.phone
// (docs.descope.com/dynamic-keys/user-keys). Such claims travel in the
// session token and in the refresh token alike (docs.descope.com/
// management/token), and a custom claim given at sign-in overrides the
// template's claim of the same key.
//
// A template's empty claim policy ("none", "nil" or "delete", per the
// terraform-provider-descope docs of jwt_templates) says what becomes of a
// dynamic value the user lacks; the docs do not say what "none", the
// default, writes, so the emulator takes the reading least convenient for a
// reader of the token: the claim is there, empty ("" or an empty list), for
// a user without the attribute and for an anonymous subject with no user
// record.

// templateKeys are the dynamic user keys WithJWTTemplate knows.
var templateKeys = map[string]bool{
	"user.userId": true, "user.loginIds": true, "user.email": true, "user.phone": true,
	"user.name": true, "user.verifiedEmail": true, "user.verifiedPhone": true,
}

// WithJWTTemplate gives the project a user JWT template whose custom claims
// take dynamic values: claims maps each claim's key to a dynamic user key,
// one of "user.loginIds" (the user's login IDs, a list of strings),
// "user.email", "user.phone", "user.name", "user.userId" (strings),
// "user.verifiedEmail" and "user.verifiedPhone" (booleans). Every session
// and refresh token issued for a user carries them with the user's values at
// issue time: a sign-in, a verify and each refresh. A value the user lacks
// is an empty string or list (see above). Keys reserved by Descope's own
// claims (sub, exp, tenants, ...) and unknown dynamic keys are ignored.
// Default: no template claims.
func WithJWTTemplate(claims map[string]string) Option {
	return func(c *config) {
		c.template = map[string]string{}
		for k, v := range claims {
			if !reserved[k] && templateKeys[v] {
				c.template[k] = v
			}
		}
	}
}

// templateClaimsLocked returns the template's claims for u (nil: an
// anonymous subject without a user record), or nil without a template.
func (e *Emulator) templateClaimsLocked(u *user) map[string]any {
	if len(e.cfg.template) == 0 {
		return nil
	}
	out := make(map[string]any, len(e.cfg.template))
	for claim, key := range e.cfg.template {
		out[claim] = templateValue(u, key)
	}
	return out
}

// templateValue is the value of the dynamic key for u (nil: no user).
func templateValue(u *user, key string) any {
	if u == nil {
		u = &user{}
	}
	switch key {
	case "user.loginIds":
		return append([]string{}, u.loginIDs...)
	case "user.email":
		return u.email
	case "user.phone":
		return u.phone
	case "user.name":
		return u.name
	case "user.userId":
		return u.id
	case "user.verifiedEmail":
		return u.verifiedEmail
	case "user.verifiedPhone":
		return u.verifiedPhone
	}
	return ""
}

// withTemplate returns claims with the template's claims t added under it:
// a claim of claims keeps its value.
func withTemplate(t, claims map[string]any) map[string]any {
	if len(t) == 0 {
		return claims
	}
	out := maps.Clone(t)
	maps.Copy(out, claims)
	return out
}
