// Package natstest starts an embedded JetStream server for tests: a free
// port, a temporary store, shut down when the test ends.
package natstest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// Server starts an embedded JetStream server stored under dir (t.TempDir()
// if empty) and stops it when the test ends.
func Server(tb testing.TB, dir string) *embedded.Server {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	srv, err := embedded.Start(embedded.Options{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	return srv
}

// Connect opens a TCP connection to srv and a JetStream context on it,
// closed when the test ends.
func Connect(tb testing.TB, srv *embedded.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := srv.Connect(false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// LegacyServerPath is Debian's nats-server 2.9, an older server without
// batched gets or atomic batches, for tests of the fall-backs.
const LegacyServerPath = "/usr/sbin/nats-server"

// LegacyServer starts LegacyServerPath with JetStream on a free loopback
// port and a temporary store, and returns its client URL; the server is
// killed when the test ends. The test is skipped, saying so, where that
// binary is missing.
func LegacyServer(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(LegacyServerPath); err != nil {
		tb.Skipf("no legacy nats-server at %s: %v", LegacyServerPath, err)
	}
	port, err := freeport.Loopback()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(LegacyServerPath, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", tb.TempDir())
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	testwait.For(tb, 10*time.Second, func() bool {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err != nil {
			return false
		}
		nc.Close()
		return true
	}, testwait.Say("legacy nats-server on "+url+" to accept connections"))
	return url
}
