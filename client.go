package anonymous

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// crawlerMarks are lower-case substrings of the User-Agent of well-known
// crawlers and link previewers, which never keep cookies.
var crawlerMarks = []string{
	"bot", "crawl", "spider", "slurp", "mediapartners", "facebookexternalhit",
	"embedly", "quora link preview", "whatsapp", "skypeuripreview", "scrapy",
	"ia_archiver", "bingpreview", "lighthouse",
}

// IsCrawler reports whether the request comes from a known crawler or link
// previewer, judging by its User-Agent; an empty User-Agent counts as one. It
// is the default crawler matcher.
func IsCrawler(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	if ua == "" {
		return true
	}
	ua = strings.ToLower(ua)
	for _, m := range crawlerMarks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// ClientIP returns the host part of the request's remote address; it does
// not trust X-Forwarded-For, which any client can set. The default client key
// of the per-client provisioning limit is ClientIP with IPv6 addresses
// grouped by network ([WithIPv6Prefix]); a [WithClientKey] function behind a
// trusted proxy can start from the header the proxy sets instead.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey attributes a provisioning request to a client: the configured
// key function, or else the connection's address, with IPv6 addresses cut to
// their network prefix (a /64 by default), since one host commonly holds a
// whole /64 and could otherwise spend the global limit alone.
func (m *Middleware) clientKey(r *http.Request) string {
	if m.cfg.clientKey != nil {
		return m.cfg.clientKey(r)
	}
	return clientNetwork(ClientIP(r), m.cfg.ipv6PrefixBits)
}

// clientNetwork returns ip unchanged for IPv4, and its network of the given
// prefix length for IPv6.
func clientNetwork(ip string, bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() || bits >= 128 {
		return ip
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}
