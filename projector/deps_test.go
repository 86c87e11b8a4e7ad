package projector_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDependsOnNoStore keeps the projector's core free of the stores'
// clients, directly or through any package it imports (go list -deps): it
// reaches the stream through events.Feed only, implemented by
// events/natsstore and events/memfeed, and the sinks through Sink.
func TestCoreDependsOnNoStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/thebutton-game/thebutton/projector",
		"github.com/thebutton-game/thebutton/events/memfeed").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 3 {
		t.Fatalf("go list found only %q", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{"github.com/nats-io/", "github.com/redis/go-redis", "database/sql",
			"github.com/go-sql-driver", "github.com/thebutton-game/thebutton/events/natsstore"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("projector depends on %s", dep)
			}
		}
	}
}
