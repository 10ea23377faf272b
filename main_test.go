package anonymous_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs up to 8 parallel tests at once unless -parallel says
// otherwise. The tests that call t.Parallel mostly wait on the wall clock
// (tokens expiring: the go-sdk checks exp against it, so no fake clock can
// stand in) rather than on the CPU, so the default of one per CPU leaves
// the machine idle. Tests that count goroutines or bound latencies stay
// sequential: parallel top-level tests start only after those have finished.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", "8"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
