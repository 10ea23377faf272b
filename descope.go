package anonymous

import "context"

// Calls to Descope. Each is reported to the observers as an operation
// (EventDescopeCall; [Middleware.Healthy] reads the same reports), bounded by the
// configured timeout, and detached from the request's cancellation, so that
// a step Descope has begun runs to its end. call does all three for one
// call. A step of several calls under one bound (a provisioning, the
// tenant's resolution, the check of a stored refresh outcome) takes
// callContext itself and reports each call through observe. Some calls keep
// another context, on purpose: [Middleware.LoadUser] follows its caller's context;
// verify's token check, local once the keys are fetched, runs on the
// request's, with the key gate bounding a fetch; and [Cull], which serves no
// request, runs on its caller's context, with retries of its own.

// callContext bounds one call to Descope by the configured timeout. It is
// detached from the request: a step that Descope has begun runs to its end.
func (m *Middleware) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.cfg.timeout)
}

// call makes one call to Descope for a request: bounded by [WithTimeout],
// detached from the request's cancellation (a step Descope has begun runs to
// its end), and reported to the observers as operation op.
func call[T any](m *Middleware, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := m.callContext(ctx)
	defer cancel()
	return observe(m.obs, cctx, op, fn)
}

// observe makes one call to Descope within ctx, whose bounds the caller has
// set, and reports it to o (which may be nil) as operation op.
func observe[T any](o *observer, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	began := o.start()
	v, err := fn(ctx)
	o.done(ctx, op, began, err)
	return v, err
}
