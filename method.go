package anonymous

import (
	"context"

	"github.com/descope/go-sdk/descope"
)

// Conversion methods. Every way a visitor proves an identifier runs through
// one pipeline (convert.go): start proves the visitor, counts the limits,
// checks who owns the address and records the pending conversion with its
// method; finish proves the visitor again, takes the lock, loads the pending
// conversion (the same method, the same address), checks the owner right
// before the proof, and ends in one of the endings: the same user
// (user-backed), signed in as another user (native and local: OnConvert),
// the existing account ([WithMerge]), or a resume. A method only sends its
// challenge and proves the answer.

// The method names, as [Event.Method] reports them.
const (
	methodOTP   = "otp"   // one-time code: StartConversion, FinishConversion
	methodLink  = "link"  // magic link: StartLinkConversion, FinishLinkConversion
	methodAdopt = "adopt" // an identifier verified outside the library: CompleteConversion
)

// method is one way of proving an address.
type method interface {
	// kind names the method ("otp", "link").
	kind() string
	// send asks Descope to send the challenge for a: an update of u's email
	// or phone under p.LoginID (user-backed), or a sign-up-or-in (native and
	// local visitors, and the existing account of a merge, p.ExistingID).
	// dsr is the visitor's refresh token in force.
	send(ctx context.Context, m *Middleware, u *User, dsr string, a address, p pendingConversion) (string, error)
	// clean checks the answer's form before anything is asked.
	clean(answer string) (string, error)
	// verify proves the answer, sent under loginID, and returns the
	// checked token pair Descope answered with.
	verify(ctx context.Context, m *Middleware, a address, loginID, answer string) (*descope.AuthenticationInfo, error)
	// bind checks that what verify proved is what was pending: a as a
	// verified login ID, and, when wantID is set, that user (or, for an
	// update Descope merged, a user that holds loginID). An answer that
	// is not (an attacker's own link opened in the visitor's browser) is
	// refused with ErrNoPendingConversion.
	bind(info *descope.AuthenticationInfo, a address, wantID, loginID string) error
}

// method returns the method that started p: an OTP record stored before
// records named their method has none.
func (p pendingConversion) method() string {
	if p.Method == "" {
		return methodOTP
	}
	return p.Method
}

// methodName says in words which method a name is, for errors.
func methodName(kind string) string {
	switch kind {
	case methodOTP:
		return "one-time code"
	case methodLink:
		return "magic link"
	case methodOAuth:
		return "social login"
	case methodPasskey:
		return "passkey"
	}
	return "another method (" + kind + ")"
}

// methodKey is the context key of the method a conversion runs.
type methodKey struct{}

// withMethod notes on ctx the method a conversion runs, for its events.
func withMethod(ctx context.Context, kind string) context.Context {
	return context.WithValue(ctx, methodKey{}, kind)
}

// convEvent emits a conversion event, with the method ctx carries
// (withMethod; "otp" when none).
func (m *Middleware) convEvent(ctx context.Context, e Event) {
	if m.obs == nil || m.obs.fn == nil {
		return
	}
	e.Method, _ = ctx.Value(methodKey{}).(string)
	if e.Method == "" {
		e.Method = methodOTP
	}
	m.obs.emit(ctx, e)
}
