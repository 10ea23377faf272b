package anonymous

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Requests to the conversion handlers. A page of another origin must not
// drive a visitor's conversion: SameSite=Lax cookies stop another site, but
// not another origin of the same site (a sibling subdomain, another port),
// whose page could post the attacker's address and then the attacker's code,
// and so take the visitor's user ID, with its data, for the attacker's
// address. So the handlers refuse, before reading the body, a request that
// [http.CrossOriginProtection] judges cross-origin (Sec-Fetch-Site, else
// Origin against Host) and a body that is not declared JSON: an HTML form or
// a "simple" cross-origin fetch can send only form data or text/plain.

// WithTrustedOrigins lets pages of the given origins use the conversion
// handlers, as [http.CrossOriginProtection.AddTrustedOrigin] does: each is
// "scheme://host[:port]", exactly as browsers send it in the Origin header
// (lower case, no path, no default port). A page of any other origin is
// refused with 403, even one of the same site. Defaults to none: only the
// application's own origin. It cannot be combined with
// [WithCrossOriginProtection]: add them there instead.
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) error {
		for _, o := range origins {
			if err := checkOrigin(o); err != nil {
				return err
			}
		}
		c.trustedOrigins = append(c.trustedOrigins, origins...)
		return nil
	}
}

// WithCrossOriginProtection makes the conversion handlers judge cross-origin
// requests by the application's own p (its trusted origins and bypass
// patterns, which may change while it serves); its deny handler is not used:
// the handlers answer 403 JSON. Defaults to a protection of the
// middleware's own that trusts the origins of [WithTrustedOrigins].
func WithCrossOriginProtection(p *http.CrossOriginProtection) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("anonymous: nil CrossOriginProtection")
		}
		c.crossOrigin = p
		return nil
	}
}

// checkOrigin refuses an origin that no browser's Origin header would ever
// match exactly.
func checkOrigin(o string) error {
	if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
		return fmt.Errorf("anonymous: trusted origin: %w", err)
	}
	u, _ := url.Parse(o) // parsed by AddTrustedOrigin already
	switch {
	case u.User != nil || strings.HasSuffix(o, ":"):
		return fmt.Errorf("anonymous: trusted origin %q is not scheme://host[:port]", o)
	case strings.ToLower(o) != o:
		return fmt.Errorf("anonymous: trusted origin %q: browsers send it in lower case", o)
	case u.Port() == "443" && u.Scheme == "https", u.Port() == "80" && u.Scheme == "http":
		return fmt.Errorf("anonymous: trusted origin %q: browsers send it without the default port", o)
	}
	return nil
}

// validateOrigins builds the middleware's own cross-origin protection, unless
// the application gave one.
func (c *config) validateOrigins() error {
	if c.crossOrigin != nil {
		if len(c.trustedOrigins) > 0 {
			return errors.New("anonymous: WithTrustedOrigins and WithCrossOriginProtection together: add the origins to your CrossOriginProtection")
		}
		return nil
	}
	c.crossOrigin = http.NewCrossOriginProtection()
	for _, o := range c.trustedOrigins {
		if err := c.crossOrigin.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("anonymous: trusted origin: %w", err)
		}
	}
	return nil
}

// checkPost admits a request to a conversion handler: a POST, same-origin
// (or from a trusted origin) as the cross-origin protection judges it, whose
// body is declared JSON. body names the JSON the handler expects, for the
// error.
func (m *Middleware) checkPost(w http.ResponseWriter, r *http.Request, body string) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return errMethod
	}
	if err := m.cfg.crossOrigin.Check(r); err != nil {
		return fmt.Errorf("%w: %v", errCrossOrigin, err)
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return fmt.Errorf("%w: expected a JSON body %s with Content-Type: application/json", errContentType, body)
	}
	return nil
}

// isJSON reports whether a Content-Type is application/json, with any
// parameters (charset).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
