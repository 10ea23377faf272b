package anonymous

import "net/http"

// Per-route provisioning. Handler provisions a visitor on any request
// without a session; a route where no identity should start (an API for
// other services, a health probe, a webhook, a static file) is mounted with
// Identify instead, which identifies and refreshes the visitors who have
// one and provisions nobody. A handler behind Identify that needs an
// identity after all calls [Middleware.Ensure]. Routers whose middleware is
// per route or per group (chi's r.With and r.Group, gin's and echo's
// groups) mount the one or the other where they need it, without a
// [WithSkipProvision] function that repeats their routes.

// Identify returns next wrapped by the middleware without provisioning: a
// visitor with a session (or a refresh token, or a local ID cookie) is
// identified and refreshed as [Middleware.Handler] does, and next reads it
// with [FromContext]; a request without one goes on with no user and no
// cookies (reported as [EventProvisionSkipped] with Reason "identify").
// [Middleware.Ensure] provisions on demand. Mount Handler or Identify on a
// route, not both.
//
// As with Handler, a response on which it set cookies (a refresh) reaches
// next through a writer that keeps it out of shared caches.
func (m *Middleware) Identify(next http.Handler) http.Handler { return m.handler(next, false) }

// ProcessIdentify is [Middleware.Process] without provisioning, for the
// frameworks whose handlers are not http.Handlers: what
// [Middleware.Identify] does for one request. A nil Middleware answers 500,
// as Process does.
func (m *Middleware) ProcessIdentify(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok bool) {
	if m == nil {
		return m.Process(w, r)
	}
	r, ok, _ = m.serve(w, r, false)
	return r, ok
}

// mayProvision reports whether a request without a session is to be
// provisioned: never behind Identify (provision false), else as
// shouldProvision says.
func (m *Middleware) mayProvision(r *http.Request, provision bool) bool {
	if !provision {
		return m.skipped(r, "identify")
	}
	return m.shouldProvision(r)
}
