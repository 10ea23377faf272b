package anonymous

import (
	"strings"

	"github.com/google/uuid"
)

// LoginIDPrefix starts every login ID that [NewLoginID] makes.
const LoginIDPrefix = "anon-"

// NewLoginID returns a fresh random login ID for an anonymous user:
// LoginIDPrefix followed by a random (version 4) UUID. It is the default
// generator.
func NewLoginID() string { return LoginIDPrefix + uuid.NewString() }

// IsGeneratedLoginID reports whether id has the shape [NewLoginID] makes. Cull
// uses it to make sure a user has no login ID a person chose or verified.
func IsGeneratedLoginID(id string) bool {
	rest, ok := strings.CutPrefix(id, LoginIDPrefix)
	if !ok || len(rest) != 36 {
		return false
	}
	_, err := uuid.Parse(rest)
	return err == nil
}
