package descopetest

import (
	"math"
	"strings"
	"time"
)

// rateWindow counts the requests of one bucket in the window that started
// at start.
type rateWindow struct {
	start time.Time
	n     int
}

// rateBucket names the rate-limit bucket of a path and its limit per window.
func rateBucket(path string) (string, int) {
	switch {
	case path == "/v1/mgmt/user/create" || strings.HasPrefix(path, "/v1/mgmt/user/create/"):
		return "create", 100
	case path == "/v2/mgmt/user/search" || path == "/v2/mgmt/user/search/test":
		return "search", 200
	case path == "/v1/mgmt/user/update" || path == "/v1/mgmt/user/patch" ||
		strings.HasPrefix(path, "/v1/mgmt/user/update/"):
		return "update", 200
	case path == "/v1/mgmt/user" || strings.HasPrefix(path, "/v1/mgmt/user/"):
		return "user", 500
	}
	return "", 0
}

// rateWindowLen is the length of a rate-limit window.
const rateWindowLen = 60 * time.Second

// rateLimit counts a request against its bucket and reports whether it is
// over the limit, with the whole seconds until the window frees.
func (e *Emulator) rateLimit(path string) (int, bool) {
	name, limit := rateBucket(path)
	if name == "" {
		return 0, false
	}
	now := e.now()
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	w := e.windows[name]
	if w == nil || !now.Before(w.start.Add(rateWindowLen)) {
		w = &rateWindow{start: now}
		e.windows[name] = w
	}
	if w.n >= limit {
		wait := int(math.Ceil(w.start.Add(rateWindowLen).Sub(now).Seconds()))
		return max(wait, 1), true
	}
	w.n++
	return 0, false
}
