package anonymous

import (
	"fmt"
	"net/http"
)

// Cross-site requests whose cookies the browser will not keep. A browser
// stores a SameSite=Lax or Strict cookie set by a response only when the
// request was same-site or a top-level navigation, and sends one on a
// cross-site request only when it is a top-level navigation with a safe
// method (Lax; never for Strict): draft-ietf-httpbis-rfc6265bis, its
// storage model and the SameSite attribute; developer.mozilla.org,
// Set-Cookie "SameSite". An
// identity provisioned for any other cross-site request is lost: an <img> or
// <iframe> on a third-party page would mint a Descope user (and spend the
// provisioning limits) on each view, a cross-site form post or a Strict
// site's visitor arriving by a link would have a live identity overwritten
// by a new one. Fetch metadata tells these requests apart (w3c.github.io/
// webappsec-fetch-metadata): Sec-Fetch-Site, Sec-Fetch-Mode and
// Sec-Fetch-Dest, and Sec-Fetch-Storage-Access, which a browser sends only
// on a request in a cross-site context, such as one from a page framed by
// another site (privacycg.github.io/storage-access-headers). A request
// without them (an old browser, a non-browser client) is provisioned as
// before. SameSite=None cookies are sent and kept cross-site (where the
// browser allows third-party cookies at all), so nothing changes for them.

// errCookiesNotKept is Ensure's answer to a request whose cookies the
// browser would not keep.
var errCookiesNotKept = fmt.Errorf("%w: the browser would not keep cookies set on this cross-site request", ErrNoSession)

// keepsCookies reports whether the browser will keep the identity cookies
// set on the answer to r, and send any it already holds (withheld cookies
// would make a visitor with an identity look new). When it will not, it
// reports an EventProvisionSkipped with Reason "cross_site". It reads
// request headers only: no call, no store.
func (m *Middleware) keepsCookies(r *http.Request) bool {
	if m.cfg.cookieSameSite == http.SameSiteNoneMode {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Storage-Access") {
	case "none", "inactive", "active":
		// A cross-site context: SameSite=Lax and Strict cookies are
		// neither sent nor stored, whatever the request.
		return m.skipped(r, "cross_site")
	}
	if r.Header.Get("Sec-Fetch-Site") != "cross-site" {
		return true // same-origin, same-site, typed by the user ("none"), or no fetch metadata
	}
	if m.cfg.cookieSameSite == http.SameSiteStrictMode || !topLevelGet(r) {
		// Strict cookies are never sent cross-site, so a visitor who has
		// one would look new; Lax ones are kept only from a top-level
		// navigation, and sent on one only with a safe method.
		return m.skipped(r, "cross_site")
	}
	return true // a link from another site: Lax cookies are sent and kept
}

// topLevelGet reports whether r is a top-level navigation with GET, by its
// fetch metadata: mode "navigate" and destination "document" (a frame's
// navigation has destination "iframe", "frame", "embed" or "object").
func topLevelGet(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("Sec-Fetch-Mode") != "navigate" {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "document", "":
		return true
	}
	return false
}
