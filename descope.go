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
	return callExpecting(m, ctx, op, nil, fn)
}

// callExpecting is call for a call site to which some of Descope's refusals
// are ordinary answers: expected (nil: none) picks them out, such as the
// "user not found" of a lookup that asks whether an address is taken. The
// caller gets the error as it came, to act on; the observers see the call
// as one Descope answered, with no Code and no Err, so that no metric label
// or alert on error codes counts an answer the caller asked for.
func callExpecting[T any](m *Middleware, ctx context.Context, op string, expected func(error) bool, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := m.callContext(ctx)
	defer cancel()
	return observeExpecting(m.obs, cctx, op, expected, fn)
}

// observe makes one call to Descope within ctx, whose bounds the caller has
// set, and reports it to o (which may be nil) as operation op.
func observe[T any](o *observer, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	return observeExpecting(o, ctx, op, nil, fn)
}

// observeExpecting is observe for a call whose errors that expected (nil:
// none) picks out are reported as answers (see callExpecting).
func observeExpecting[T any](o *observer, ctx context.Context, op string, expected func(error) bool, fn func(context.Context) (T, error)) (T, error) {
	began := o.start()
	v, err := fn(ctx)
	reported := err
	if err != nil && expected != nil && expected(err) {
		reported = nil
	}
	o.done(ctx, op, began, reported)
	return v, err
}
