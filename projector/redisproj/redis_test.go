package redisproj

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// mustRedis connects to REDIS_URL (default redis://127.0.0.1:6379/0). If
// Redis does not answer, the test is skipped with a loud message, or fails
// when CI=true.
func mustRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("REDIS_URL %q: %v", url, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Redis at %s is required under CI=true: %v", url, err)
		}
		tb.Skipf("!!! SKIPPED: no Redis at %s (%v); set REDIS_URL, or CI=true to make this a failure !!!", url, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix returns a prefix no other test uses.
func testPrefix(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:redisproj:" + hex.EncodeToString(b[:]) + ":"
}

// mustSink returns a sink and a reader on a fresh prefix of the shared
// Redis; every key of the prefix is deleted when the test ends.
func mustSink(tb testing.TB) (*Sink, *Reader, *redis.Client) {
	tb.Helper()
	c := mustRedis(tb)
	prefix := testPrefix(tb)
	s := New(c, Options{Prefix: prefix})
	tb.Cleanup(func() { dropPrefix(tb, c, prefix) })
	return s, NewReader(c, prefix), c
}

// dropPrefix deletes every key starting with prefix.
func dropPrefix(tb testing.TB, c *redis.Client, prefix string) {
	ctx := context.Background()
	it := c.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		tb.Errorf("clean up %s: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
			return
		}
		keys = keys[n:]
	}
}
