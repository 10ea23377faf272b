package anonymous

import "context"

// Calls to Descope: each is bounded by the configured timeout, detached
// from the request's cancellation, and reported to the observers.

// callContext bounds one call to Descope by the configured timeout. It is
// detached from the request: a step that Descope has begun runs to its end.
func (m *Middleware) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.cfg.timeout)
}

// call makes one call to Descope for a request: bounded by WithTimeout,
// detached from the request's cancellation (a step Descope has begun runs to
// its end), and reported to the observers as operation op.
func call[T any](m *Middleware, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := m.callContext(ctx)
	defer cancel()
	began := m.obs.start()
	v, err := fn(cctx)
	m.obs.done(cctx, op, began, err)
	return v, err
}
