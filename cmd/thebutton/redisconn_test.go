package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

func TestRedisURLs(t *testing.T) {
	good := []struct {
		url     string
		cluster []string // nil: one Redis
		user    string
		pass    string
	}{
		{url: "redis://127.0.0.1:6379/0"},
		{url: "rediss://u:p@redis.example:6380/2"},
		{url: "redis+cluster://10.0.0.1:7000", cluster: []string{"10.0.0.1:7000"}},
		{url: "redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002/", cluster: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}},
		{url: "redis+cluster://app:s3cret@a:7000,b:7001?dial_timeout=2s", cluster: []string{"a:7000", "b:7001"}, user: "app", pass: "s3cret"},
		{url: "rediss+cluster://a:7000,b:7001/0", cluster: []string{"a:7000", "b:7001"}},
	}
	for _, g := range good {
		if err := checkRedisURL(g.url); err != nil {
			t.Errorf("check %s: %v", g.url, err)
		}
		rdb, err := openRedis(g.url)
		if err != nil {
			t.Errorf("open %s: %v", g.url, err)
			continue
		}
		cc, isCluster := rdb.(*redis.ClusterClient)
		switch {
		case g.cluster == nil && isCluster:
			t.Errorf("%s: a cluster client, want one Redis", g.url)
		case g.cluster != nil && !isCluster:
			t.Errorf("%s: a %T, want a cluster client", g.url, rdb)
		case isCluster:
			o := cc.Options()
			if fmt.Sprint(o.Addrs) != fmt.Sprint(g.cluster) || o.Username != g.user || o.Password != g.pass {
				t.Errorf("%s: nodes %v user %q password %q, want %v %q %q", g.url, o.Addrs, o.Username, o.Password, g.cluster, g.user, g.pass)
			}
			if strings.HasPrefix(g.url, "rediss") != (o.TLSConfig != nil) {
				t.Errorf("%s: TLS %v", g.url, o.TLSConfig != nil)
			}
		}
		_ = rdb.Close()
	}
	bad := []string{
		"http://x",
		"redis+cluster://a:7000,,b:7001",
		"redis+cluster://a:7000/3",
		"redis+cluster://app:s3cret@a:7000,b:7001/3",
		"redis+cluster://a:7000?dial_timeout=soon",
	}
	for _, u := range bad {
		err := checkRedisURL(u)
		if err == nil {
			t.Errorf("check %s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("check %s: the error shows the password: %v", u, err)
		}
		if _, err := openRedis(u); err == nil {
			t.Errorf("open %s: no error", u)
		}
	}
}

// TestReplayVerifyOnRedisCluster: replay and verify through a
// redis+cluster:// REDIS_URL, on a Redis Cluster the test starts.
func TestReplayVerifyOnRedisCluster(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t)
	rdb := cl.Client(t)
	prefix := redistest.Prefix(t, rdb, "cmd")
	dsn := mysqltest.DSN(t)
	st := newStage(t, 3)
	if a, r, err := st.press(ctx, 300, 3, 0); r != 0 || a < 300 {
		t.Fatalf("presses: %d accepted, %d refused (%v)", a, r, err)
	}
	last := st.lastSeq(t)
	vars := map[string]string{
		"NATS_URL": st.url, "REDIS_URL": cl.URL(), "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn,
		"PROJECTOR_LEASE_TTL": "1s", "LOG_LEVEL": "warn",
	}
	runCmd := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := Main(ctx, args, &stdout, &stderr, func(k string) string { return vars[k] })
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := runCmd("replay", "--target", "redis", "--batch", "100")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d messages, sequences 1 to %d", last, last)) {
		t.Fatalf("replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut := runCmd("verify", "--wait", "0s", "--target", "redis"); code != 0 {
		t.Fatalf("verify: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// Break a game's key on whichever master holds it: verify must say so,
	// and a replay mends it.
	var (
		mu     sync.Mutex // ForEachMaster calls the masters at once
		broken string
	)
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, prefix+"{g:*").Result()
		mu.Lock()
		defer mu.Unlock()
		if len(keys) > 0 && err == nil {
			broken = keys[0]
		}
		return err
	})
	if err != nil || broken == "" {
		t.Fatalf("no game key found: %v", err)
	}
	if err := rdb.Del(ctx, broken).Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd("verify", "--wait", "0s", "--target", "redis")
	if code != 1 || !strings.Contains(errOut, "differences") {
		t.Errorf("verify of a broken projection: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, out, errOut := runCmd("replay", "--target", "redis"); code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCmd("verify", "--wait", "0s", "--target", "redis"); code != 0 {
		t.Errorf("verify after the replay: exit %d\n%s\n%s", code, out, errOut)
	}
}
