package redisproj

import (
	"testing"

	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"

	"github.com/redis/go-redis/v9"
)

// mustSink returns a sink and a reader on a fresh prefix of the shared
// Redis; every key of the prefix is deleted when the test ends.
func mustSink(tb testing.TB) (*Sink, *Reader, *redis.Client) {
	tb.Helper()
	c := redistest.Client(tb)
	prefix := redistest.Prefix(tb, c, "redisproj")
	s := New(c, Options{Prefix: prefix})
	return s, NewReader(c, prefix), c
}
