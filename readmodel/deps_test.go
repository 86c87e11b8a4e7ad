package readmodel_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the stores' clients and the projections: the readers of
// the views reach Redis, NATS and MySQL only through interfaces
// (readmodel.Reader and the bot's own), implemented by adapters that
// cmd/thebutton wires in.
var forbidden = []string{
	"github.com/redis/go-redis/",
	"github.com/nats-io/nats.go",
	"github.com/nats-io/nats-server/",
	"database/sql",
	"github.com/go-sql-driver/",
	"github.com/thebutton-game/thebutton/projector",
}

// TestReadersDependOnNoStore keeps every package under discordbot/ and
// web/, and the read model itself, free of the stores' clients, directly
// or through any package they import (go list -deps), so a new
// subpackage is covered without being named here.
func TestReadersDependOnNoStore(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}",
		"./discordbot/...", "./web/...", "./readmodel/...")
	cmd.Dir = ".." // the module's root
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		t.Fatalf("go list found only %q", lines)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, bad := range forbidden {
			for dep := range strings.FieldsSeq(deps) {
				if dep == strings.TrimSuffix(bad, "/") || strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", pkg, dep)
					break
				}
			}
		}
	}
}
