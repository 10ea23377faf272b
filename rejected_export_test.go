package anonymous

// CacheLen is the number of session tokens m's cache holds.
func CacheLen(m *Middleware) int {
	n, _ := m.cache.len()
	return n
}
