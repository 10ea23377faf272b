package anonymous_test

import (
	"os"
	"strings"
	"testing"
)

// The README's quick start is examples/quickstart as written there: the code
// between the markers of its main, one tab less indented, is the README's
// first Go block after "## Quick start".
func TestReadmeQuickStartCompiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("examples/quickstart/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Quick start\n")
	if !ok {
		t.Fatal("README has no quick start")
	}
	_, block, _ := strings.Cut(section, "```go\n")
	block, _, _ = strings.Cut(block, "```")
	_, code, _ := strings.Cut(string(src), "// quick start: begin\n")
	code, _, _ = strings.Cut(code, "\t// quick start: end")
	var lines []string
	for l := range strings.Lines(code) {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	if got := strings.Join(lines, ""); block == "" || got != block {
		t.Errorf("the README's quick start differs from examples/quickstart:\n--- README\n%s--- examples/quickstart\n%s", block, got)
	}
}
