package descopetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// apiError is a Descope error response: the HTTP status and the body's
// errorCode, errorDescription and errorMessage. Every error the emulator
// answers is made by one of the functions below and written by writeError.
type apiError struct {
	status int
	code   string
	desc   string
	msg    string
}

// writeError answers with a's status and Descope error body, and returns
// the status.
func writeError(w http.ResponseWriter, a *apiError) int {
	body, _ := json.Marshal(map[string]string{
		"errorCode":        a.code,
		"errorDescription": a.desc,
		"errorMessage":     a.msg,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
	return a.status
}

// Requests the emulator cannot serve.

// badRequest is a body that cannot be read or is not JSON.
func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "E011001", "Bad request", fmt.Sprintf(format, args...)}
}

// bodyTooLarge is a body over maxBody.
func bodyTooLarge() *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, "E011001", "Bad request", "request body exceeds 1 MiB"}
}

// notFound is a path the emulator does not serve, or an outbox with no code.
func notFound(msg string) *apiError {
	return &apiError{http.StatusNotFound, "E011001", "Not found", msg}
}

// methodNotAllowed is a method a path does not accept.
func methodNotAllowed(msg string) *apiError {
	return &apiError{http.StatusMethodNotAllowed, "E011001", "Method not allowed", msg}
}

// internalError is a failure of the emulator itself.
func internalError(msg string) *apiError {
	return &apiError{http.StatusInternalServerError, "E011001", "Internal error", msg}
}

// signingFailed is a token the emulator could not sign.
func signingFailed(err error) *apiError {
	return internalError("signing token: " + err.Error())
}

// emulatedFault is the answer of a Fault with a Status other than 429.
func emulatedFault(status int, path string) *apiError {
	return &apiError{status, "E011001", "emulated fault", fmt.Sprintf("fault injected by descopetest for %s (status %d)", path, status)}
}

// rateLimited is a request over a rate limit, or a Fault with Status 429.
func rateLimited() *apiError {
	return &apiError{http.StatusTooManyRequests, "E130429", "https://docs.descope.com/rate-limit", "API rate limit exceeded."}
}

// Requests that are not valid.

// missingArg is a required field or parameter that is missing or empty.
func missingArg(name string) *apiError {
	return &apiError{http.StatusBadRequest, "E011002", "Missing arguments", name + " is required"}
}

// field is a named value of a request, for required.
type field struct{ name, value string }

// required returns the missingArg error of the first of fields whose value
// is empty, or nil when none is.
func required(fields ...field) *apiError {
	for _, f := range fields {
		if f.value == "" {
			return missingArg(f.name)
		}
	}
	return nil
}

// invalid is a request that is well formed but not acceptable.
func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "E011003", "Request is invalid", fmt.Sprintf(format, args...)}
}

// Callers that may not do what they ask.

// unauthorized is a missing or wrong credential, or a user who may not.
func unauthorized(format string, args ...any) *apiError {
	return &apiError{http.StatusUnauthorized, "E011003", "Unauthorized", fmt.Sprintf(format, args...)}
}

// userDisabled is a user whose status is "disabled".
func userDisabled() *apiError {
	return unauthorized("user is disabled")
}

// loggedOut is a refresh token that was revoked, or whose user is gone.
func loggedOut() *apiError {
	return &apiError{http.StatusUnauthorized, "E064001", "Token expired by logged out", "the refresh token was revoked"}
}

// badPassword is a password that does not match.
func badPassword() *apiError {
	return &apiError{http.StatusUnauthorized, "E062801", "Invalid credentials", "wrong login ID or password"}
}

// wrongCode is a one-time code that does not match, expired, or was never
// sent.
func wrongCode(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "E061102", "Invalid one-time code", msg}
}

// tooManyAttempts is a pending one-time code that took maxOTPFailures
// wrong ones.
func tooManyAttempts() *apiError {
	return &apiError{http.StatusBadRequest, "E061103", "Too many attempts", "too many attempts with a wrong one-time code; request a new code"}
}

// badLink is a magic link token that was never sent, was used or
// expired. Descope documents no code for it; the emulator answers the code
// of a wrong one-time code.
func badLink() *apiError {
	return &apiError{http.StatusBadRequest, "E061102", "Invalid magic link token", "the magic link token is unknown, used or expired"}
}

// badOAuthCode is an OAuth exchange code that was never issued, was used
// or expired.
func badOAuthCode() *apiError {
	return invalid("the OAuth code is unknown, used or expired")
}

// passkeyRefused is a WebAuthn response or transaction that does not
// verify.
func passkeyRefused(format string, args ...any) *apiError {
	return &apiError{http.StatusUnauthorized, "E011003", "WebAuthn verification failed", fmt.Sprintf(format, args...)}
}

// What the project holds, or does not.

// userExists is a login ID that another user has.
func userExists(loginID string) *apiError {
	return &apiError{http.StatusBadRequest, "E062107", "User already exists", "login ID " + strconv.Quote(loginID) + " is already used by another user"}
}

// mgmtUserNotFound is an unknown user in a management call.
func mgmtUserNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E112102", "User not found", "no user with login ID or user ID " + strconv.Quote(id)}
}

// authUserNotFound is an unknown user in an authentication call.
func authUserNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E062108", "User not found", "no user with login ID " + strconv.Quote(id)}
}

// tenantNotFound is an unknown tenant.
func tenantNotFound(id string) *apiError {
	return &apiError{http.StatusBadRequest, "E011003", "Tenant not found", "no tenant with ID " + strconv.Quote(id)}
}
