package descopetest

import "net/http"

// refreshCookieHeader names the cookie that holds the refresh token.
// Descope's JavaScript SDKs send it (core-js-sdk createDescopeHeaders, from
// the refreshCookieName option or the cookieName of the last answer) with
// credentials: "include", so that a refresh token kept in a cookie reaches
// Descope when the Authorization header carries only the project ID.
const refreshCookieHeader = "X-Descope-Refresh-Cookie-Name"

// cookieRefresh returns the refresh token of r's cookie: the one the
// x-descope-refresh-cookie-name header names, else DSR. A header naming a
// cookie that r does not carry finds nothing, even when r carries DSR: no
// public source says Descope falls back, so the emulator does not.
func cookieRefresh(r *http.Request) string {
	name := r.Header.Get(refreshCookieHeader)
	if name == "" {
		name = refreshCookie
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// handleTryRefresh is refresh that does not fail for want of a usable
// refresh token (Descope's OpenAPI TryRefreshSession: "will not fail if the
// refresh token is missing or invalid"): it answers {} (an
// OptionalJWTResponse with no field set) when the token is missing,
// malformed, forged, expired, revoked or its user is gone or disabled, and
// otherwise what refresh answers. The project ID must still be right. A
// rotated-out token presented here still counts as reuse (see
// WithRefreshReuseDetection).
func (e *Emulator) handleTryRefresh(c *call) (any, *apiError) {
	tok := e.bearerRefresh(bearerParts(c.r.Header.Get("Authorization")))
	if tok == "" {
		tok = cookieRefresh(c.r)
	}
	if tok == "" {
		return nil, nil
	}
	tc, a := e.verifyRefresh(tok)
	if a != nil {
		return nil, nil
	}
	c.refresh = tc
	res, a := e.handleRefresh(c)
	if a != nil && a.status == http.StatusUnauthorized {
		return nil, nil
	}
	return res, a
}
