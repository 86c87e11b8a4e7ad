package redisproj

import (
	"os"
	"testing"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/redis/go-redis/v9"
)

// mustSink returns a sink and a reader on a fresh prefix of the test's
// Redis (a single Redis or a cluster, see redistest.Backends); every key of
// the prefix is deleted when the test ends.
func mustSink(tb testing.TB) (*Sink, *Reader, redis.UniversalClient) {
	tb.Helper()
	c := redistest.Universal(tb)
	prefix := redistest.Prefix(tb, c, "redisproj")
	s := New(c, Options{Prefix: prefix})
	return s, NewReader(c, prefix), c
}

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
