// Package redistest connects tests to the machine's Redis, or to a Redis
// Cluster it starts (see Cluster, Backends), and gives each test a key
// prefix of its own. A test that finds no Redis is skipped with
// a loud message, and fails under CI=true. It imports go-redis only.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is REDIS_URL, default redis://127.0.0.1:6379/0.
func URL() string {
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	return "redis://127.0.0.1:6379/0"
}

// Client connects to URL(), closed when the test ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	url := URL()
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("REDIS_URL %q: %v", url, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
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

// Prefix returns "test:<label>:<random>:", a key prefix no other test
// uses; every key under it is deleted when the test ends.
func Prefix(tb testing.TB, c redis.UniversalClient, label string) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + label + ":" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() { Drop(tb, c, prefix) })
	return prefix
}

// Drop deletes every key under prefix (which must hold no glob
// characters), on every master of a cluster.
func Drop(tb testing.TB, c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	drop := func(ctx context.Context, c redis.UniversalClient) error {
		var keys []string
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if err := it.Err(); err != nil {
			return err
		}
		pipe := c.Pipeline()
		for _, k := range keys {
			pipe.Unlink(ctx, k) // one key per command: keys of several slots
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return drop(ctx, m) })
	} else {
		err = drop(ctx, c)
	}
	if err != nil {
		tb.Errorf("clean up %s: %v", prefix, err)
	}
}
