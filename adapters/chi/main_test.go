package anonchi_test

import (
	"os"
	"testing"

	"github.com/descope-contrib/anonymous/internal/anontest"
)

func TestMain(m *testing.M) {
	anontest.DefaultParallel(8)
	os.Exit(m.Run())
}
