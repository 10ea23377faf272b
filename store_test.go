package anonymous_test

import (
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/storetest"
)

// The process-local store passes the behaviour table every Store must.
func TestMemStoreBehaviour(t *testing.T) {
	var clock *anontest.Clock
	storetest.Run(t, storetest.Harness{
		New: func(*testing.T) anonymous.Store {
			clock = &anontest.Clock{}
			return anonymous.NewMemStore(clock.Now)
		},
		Advance: func(_ *testing.T, d time.Duration) { clock.Advance(d) },
	})
}
