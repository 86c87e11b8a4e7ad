package redismarks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/projector/redismarks"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// redisClient returns the client of the backend redistest.Backends runs
// the test on: the machine's Redis (REDIS_URL) or a Redis Cluster.
func redisClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	return redistest.Universal(t)
}

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func prefix(t *testing.T) string {
	return fmt.Sprintf("test:marks:%s:%d:", t.Name(), time.Now().UnixNano())
}

func cleanup(t *testing.T, rdb redis.UniversalClient, p string) {
	t.Cleanup(func() { redistest.Drop(t, rdb, p) })
}

func TestClaimOnce(t *testing.T) { redistest.Backends(t, testClaimOnce) }

func testClaimOnce(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	cleanup(t, rdb, p)
	m := redismarks.New(rdb, redismarks.Options{Prefix: p})
	ctx := context.Background()

	first, err := m.Claim(ctx, "7:announce")
	if err != nil || !first {
		t.Fatalf("first claim = %v, %v; want true, nil", first, err)
	}
	again, err := m.Claim(ctx, "7:announce")
	if err != nil || again {
		t.Fatalf("second claim = %v, %v; want false, nil", again, err)
	}
	other, err := m.Claim(ctx, "7:role")
	if err != nil || !other {
		t.Fatalf("claim of another effect = %v, %v; want true, nil", other, err)
	}
	if err := m.Release(ctx, "7:announce"); err != nil {
		t.Fatal(err)
	}
	after, err := m.Claim(ctx, "7:announce")
	if err != nil || !after {
		t.Fatalf("claim after release = %v, %v; want true, nil", after, err)
	}
	ttl := rdb.TTL(ctx, p+"mark:7:role").Val()
	if ttl <= 29*24*time.Hour {
		t.Errorf("mark TTL = %v, want about %v", ttl, redismarks.DefaultTTL)
	}
}

func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	redistest.Backends(t, testConcurrentClaimsHaveOneWinner)
}

func testConcurrentClaimsHaveOneWinner(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	cleanup(t, rdb, p)
	ctx := context.Background()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		m := redismarks.New(rdb, redismarks.Options{Prefix: p})
		wg.Go(func() {
			ok, err := m.Claim(ctx, "42:summary")
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want exactly 1", wins.Load())
	}
}

func TestPositionOnlyGrows(t *testing.T) { redistest.Backends(t, testPositionOnlyGrows) }

func testPositionOnlyGrows(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	cleanup(t, rdb, p)
	m := redismarks.New(rdb, redismarks.Options{Prefix: p})
	ctx := context.Background()
	tests := []struct {
		name string
		set  uint64
		want uint64
	}{
		{"first", 10, 10},
		{"higher", 25, 25},
		{"lower is ignored", 12, 25},
		{"equal", 25, 25},
	}
	if pos, err := m.Position(ctx); err != nil || pos != 0 {
		t.Fatalf("empty position = %d, %v; want 0, nil", pos, err)
	}
	for _, tt := range tests {
		if err := m.SetPosition(ctx, tt.set); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if pos, err := m.Position(ctx); err != nil || pos != tt.want {
			t.Errorf("%s: position = %d, %v; want %d", tt.name, pos, err, tt.want)
		}
	}
	if err := m.ResetPosition(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, _ := m.Position(ctx); pos != 0 {
		t.Errorf("position after reset = %d, want 0", pos)
	}
}

func TestZeroSinceIsTheFirstMoment(t *testing.T) {
	redistest.Backends(t, testZeroSinceIsTheFirstMoment)
}

func testZeroSinceIsTheFirstMoment(t *testing.T) {
	rdb := redisClient(t)
	p := prefix(t)
	cleanup(t, rdb, p)
	ttl := time.Hour
	first := redismarks.New(rdb, redismarks.Options{Prefix: p, TTL: ttl})
	second := redismarks.New(rdb, redismarks.Options{Prefix: p, TTL: ttl}) // another process
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 20, 22, 21, 364_123_456, time.UTC)

	if got, err := first.ZeroSince(ctx, t0); err != nil || !got.Equal(t0) {
		t.Fatalf("first moment = %v, %v; want %v", got, err, t0)
	}
	if got, err := second.ZeroSince(ctx, t0.Add(5*time.Second)); err != nil || !got.Equal(t0) {
		t.Fatalf("another process's moment = %v, %v; want the first, %v", got, err, t0)
	}
	if left, err := rdb.TTL(ctx, p+"zero").Result(); err != nil || left <= 0 || left > ttl {
		t.Errorf("the moment's time to live = %v, %v; want at most the marks' %v", left, err, ttl)
	}
	if err := second.ResetPosition(ctx); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	if got, err := first.ZeroSince(ctx, t1); err != nil || !got.Equal(t1) {
		t.Errorf("moment after a reset = %v, %v; want the new one, %v", got, err, t1)
	}
}

func TestUnreachableRedisIsUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	m := redismarks.New(rdb, redismarks.Options{Prefix: "x:"})
	ctx := context.Background()
	if _, err := m.Claim(ctx, "1:x"); !errors.Is(err, redismarks.ErrUnavailable) {
		t.Errorf("Claim error = %v, want ErrUnavailable", err)
	}
	if _, err := m.Position(ctx); !errors.Is(err, redismarks.ErrUnavailable) {
		t.Errorf("Position error = %v, want ErrUnavailable", err)
	}
}
