package anontest

import (
	"flag"
	"strconv"
)

// DefaultParallel runs up to n parallel tests at once unless the command
// line's -parallel says otherwise; TestMain calls it before m.Run. The tests
// that call t.Parallel mostly wait on the wall clock (tokens expiring: the
// go-sdk checks exp against it, so no fake clock can stand in) rather than
// on the CPU, so the default of one per CPU leaves the machine idle. Tests
// that count goroutines or bound latencies stay sequential: parallel
// top-level tests start only after those have finished.
func DefaultParallel(n int) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
}
