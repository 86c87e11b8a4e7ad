// Package natstest starts an embedded JetStream server for tests: a free
// port, a temporary store, shut down when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
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
