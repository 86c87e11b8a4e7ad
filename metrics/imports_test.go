package metrics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package's promise: the Prometheus client and the
// standard library, nothing else of this module.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "github.com/thebutton-game/thebutton/metrics":
		case strings.HasPrefix(p, "github.com/thebutton-game/thebutton"):
			t.Errorf("metrics imports %s of this module", p)
		case strings.HasPrefix(p, "github.com/prometheus/"),
			strings.HasPrefix(p, "google.golang.org/protobuf/"),
			strings.HasPrefix(p, "golang.org/x/sys/"),
			p == "github.com/beorn7/perks/quantile",
			p == "github.com/cespare/xxhash/v2",
			p == "github.com/munnerz/goautoneg":
			// the Prometheus client and its own dependencies
		default:
			t.Errorf("metrics depends on %s, outside the Prometheus client", p)
		}
	}
}
