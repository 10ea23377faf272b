package anonymous

import (
	"net"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// LoginIDPrefix starts every login ID that NewLoginID makes.
const LoginIDPrefix = "anon-"

// NewLoginID returns a fresh random login ID for an anonymous user:
// LoginIDPrefix followed by a random (version 4) UUID. It is the default
// generator.
func NewLoginID() string { return LoginIDPrefix + uuid.NewString() }

// IsGeneratedLoginID reports whether id has the shape NewLoginID makes. Cull
// uses it to make sure a user has no login ID a person chose or verified.
func IsGeneratedLoginID(id string) bool {
	rest, ok := strings.CutPrefix(id, LoginIDPrefix)
	if !ok || len(rest) != 36 {
		return false
	}
	_, err := uuid.Parse(rest)
	return err == nil
}

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

// ClientIP returns the host part of the request's remote address. It is the
// default client key for the per-client provisioning limit; it does not trust
// X-Forwarded-For, which any client can set.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
