package anonymous

import (
	"net/http"
	"strings"
)

// One identity per browser. A browser's first visit to a page sends the
// page's request and then everything the page asks for; every request that
// carries no cookie yet would be provisioned, each with an identity of its
// own, all but one of which the browser then overwrites (orphans Cull finds
// only a lifetime later). The page's own request provisions, and writes the
// cookies before the browser reads the page, so what the page asks for
// afterwards carries them. Requests a visitor did not ask for, or that no
// page is read from, never start an identity: a resource the browser loads
// for a page (an image, a script, a style sheet, a font, a favicon), and a
// prefetch or prerender, which may never be shown. Requests from scripts
// (fetch and XMLHttpRequest: Sec-Fetch-Dest "empty") still provision, as do
// navigations and requests without Fetch Metadata (older browsers, API
// clients): a page served without the middleware (a static shell) whose
// scripts send several requests at once gets several identities, unless it
// makes one request first and the others once it has answered (see
// docs/strategies.md).

// subresourceDests are the values of Sec-Fetch-Dest (the Fetch standard's
// request destinations, fetch.spec.whatwg.org/#concept-request-destination)
// of requests a browser makes to load a resource for a page, a worker or
// the browser itself. "document", "frame", "iframe" (navigations) and
// "empty" (fetch and XMLHttpRequest) are not among them, nor is any value a
// later standard adds.
var subresourceDests = map[string]bool{
	"audio": true, "audioworklet": true, "embed": true, "font": true, "image": true,
	"json": true, "manifest": true, "object": true, "paintworklet": true, "report": true,
	"script": true, "serviceworker": true, "sharedworker": true, "style": true,
	"track": true, "video": true, "webidentity": true, "worker": true, "xslt": true,
}

// notAVisit returns why r, a request without a session, is not one an
// identity should start from, or "" when it may be: "subresource" for a
// resource the browser loads for a page (Sec-Fetch-Dest, and the icons
// browsers fetch on their own by well-known paths: /favicon.ico and Apple's
// touch icons), "prefetch" for a prefetch or prerender (Sec-Purpose:
// prefetch, possibly with the prerender parameter, and the headers browsers
// sent before it: Purpose, X-Moz, X-Purpose).
func notAVisit(r *http.Request) string {
	h := r.Header
	if subresourceDests[h.Get("Sec-Fetch-Dest")] || isIconPath(r.URL.Path) {
		return "subresource"
	}
	if purposePrefetch(h.Get("Sec-Purpose")) || strings.EqualFold(h.Get("Purpose"), "prefetch") ||
		strings.EqualFold(h.Get("X-Moz"), "prefetch") || strings.EqualFold(h.Get("X-Purpose"), "preview") {
		return "prefetch"
	}
	return ""
}

// purposePrefetch reports whether a Sec-Purpose header (a structured-field
// list: "prefetch", "prefetch;prerender") names a prefetch.
func purposePrefetch(v string) bool {
	for item := range strings.SplitSeq(v, ",") {
		token, _, _ := strings.Cut(item, ";")
		if strings.EqualFold(strings.TrimSpace(token), "prefetch") {
			return true
		}
	}
	return false
}

// isIconPath reports whether path is one of the icons browsers request on
// their own, without a page asking: /favicon.ico, and Apple's touch icons
// (/apple-touch-icon.png, /apple-touch-icon-precomposed.png and sized ones
// such as /apple-touch-icon-120x120.png).
func isIconPath(path string) bool {
	return path == "/favicon.ico" || strings.HasPrefix(path, "/apple-touch-icon") && strings.HasSuffix(path, ".png")
}
