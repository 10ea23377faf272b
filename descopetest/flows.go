package descopetest

import "net/http"

// Descope's flows (/v1/flow/start, /v1/flow/next) run screens designed in
// the Descope console; their protocol is not a public API, so the emulator
// does not model it. Rather than a bare 404, a call to a flow path is
// answered 501 with an error that names the route, so a test or a page
// that reaches one learns why at once.

// notEmulated is a route the emulator knows of and deliberately does not
// serve.
func notEmulated(method, path, why string) *apiError {
	return &apiError{http.StatusNotImplemented, "E011001", "Not emulated",
		method + " " + path + " is not emulated by descopetest: " + why}
}

// handleFlow answers every flow call with notEmulated.
func (e *Emulator) handleFlow(c *call) (any, *apiError) {
	return nil, notEmulated(c.r.Method, c.r.URL.Path,
		"Descope flows are not a public API; sign users in with the OTP, password, magic link or OAuth endpoints")
}
