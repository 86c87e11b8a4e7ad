package deploy_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/internal/testwait"
)

// TestRedisClusterInit runs deploy/redis/cluster-init.sh, the script of the
// compose service redis-cluster-init, against six cluster-enabled
// redis-servers this test starts on loopback ports: it makes a cluster of
// 3 masters with a replica each, and run again it finds the cluster and
// changes nothing.
func TestRedisClusterInit(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server: %v", err)
		}
		t.Skipf("!!! SKIPPED: no redis-server (%v) !!!", err)
	}
	dir := t.TempDir()
	var nodes []string
	for i := range 6 {
		port := clusterPort(t)
		name := "node" + strconv.Itoa(i)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", name+".conf", "--cluster-node-timeout", "3000",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", name+".log")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		nodes = append(nodes, "127.0.0.1:"+strconv.Itoa(port))
	}
	script := filepath.Join(root, "deploy", "redis", "cluster-init.sh")
	run := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", script)
		cmd.Env = append(os.Environ(), "REDIS_CLUSTER_NODES="+strings.Join(nodes, " "), "REDIS_CLUSTER_WAIT=30")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "the cluster is ok") {
		t.Fatalf("first run did not create the cluster:\n%s", out)
	}
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: nodes})
	defer c.Close()
	// Every node learns the replicas by gossip: the node asked may lag the
	// one the script asked.
	var layout string
	testwait.For(t, 15*time.Second, func() bool {
		layout = shardLayout(ctx, c)
		return layout == "3 shards, 16384 slots, each 1 master + 1 replica"
	}, func() string { return "cluster layout: " + layout })
	if err := c.Set(ctx, "thebutton:init-test", "1", 0).Err(); err != nil {
		t.Fatalf("write through the cluster: %v", err)
	}
	if out := run(); !strings.Contains(out, "the cluster exists") {
		t.Fatalf("second run did not find the cluster:\n%s", out)
	}
	if v, err := c.Get(ctx, "thebutton:init-test").Result(); err != nil || v != "1" {
		t.Fatalf("after the second run: %q, %v", v, err)
	}
}

// shardLayout describes the cluster as CLUSTER SHARDS shows it.
func shardLayout(ctx context.Context, c *redis.ClusterClient) string {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return err.Error()
	}
	slots, paired := 0, 0
	for _, s := range shards {
		roles := map[string]int{}
		for _, n := range s.Nodes {
			roles[n.Role]++
		}
		if roles["master"] == 1 && roles["replica"] == 1 {
			paired++
		}
		for _, r := range s.Slots {
			slots += int(r.End-r.Start) + 1
		}
	}
	if paired == len(shards) {
		return fmt.Sprintf("%d shards, %d slots, each 1 master + 1 replica", len(shards), slots)
	}
	return fmt.Sprintf("%d shards, %d slots, %d with 1 master + 1 replica", len(shards), slots, paired)
}

// clusterPort returns a free loopback port whose cluster bus port (the
// port + 10000, what redis-cli --cluster create assumes) is free too.
func clusterPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := freeport.ForTest(t)
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}
