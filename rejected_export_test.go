package anonymous

// CacheLen is the number of session tokens m's cache holds.
func CacheLen(m *Middleware) int {
	n, _ := m.cache.len()
	return n
}

// RejectedLen is the number of refresh tokens m remembers as rejected.
func RejectedLen(m *Middleware) int { return m.refreshes.rejected.len() }

// SetRejectedBound bounds m's memory of rejected refresh tokens to n
// entries, for tests. Call it before the first request.
func SetRejectedBound(m *Middleware, n int) {
	m.refreshes.rejected.mu.Lock()
	defer m.refreshes.rejected.mu.Unlock()
	m.refreshes.rejected.max = n
}

// RejectedFor is how long a rejected refresh token is remembered at most.
const RejectedFor = rejectedFor
