package anonymous

import (
	"net/http"
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
