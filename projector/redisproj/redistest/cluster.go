package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/internal/freeport"
)

// Cluster is a Redis Cluster of 3 masters and 3 replicas, started by a
// test from the machine's redis-server on free loopback ports in a temp
// dir, without persistence. It never touches the shared Redis.
type Cluster struct {
	dir   string
	nodes []*clusterNode
}

type clusterNode struct {
	addr    string
	busPort int
	cmd     *exec.Cmd
	done    chan struct{}
}

// clusterTimeout bounds starting a cluster and a failover.
const clusterTimeout = 30 * time.Second

// StartCluster starts a cluster that is stopped when the test ends. A
// machine without redis-server skips the test loudly, and fails it under
// CI=true.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := startClusterRetry(func() (string, error) { return tb.TempDir(), nil }, tb.Logf)
	if err != nil {
		requireCluster(tb, err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// startClusterRetry starts a cluster in a fresh dir from newDir, up to 3
// times: a node can lose its free port to another process between the
// pick and redis-server's bind (it exits at once), and the next attempt
// picks new ports.
func startClusterRetry(newDir func() (string, error), logf func(string, ...any)) (*Cluster, error) {
	var err error
	for range 3 {
		var dir string
		if dir, err = newDir(); err != nil {
			return nil, err
		}
		var c *Cluster
		if c, err = startCluster(dir); err == nil || errors.Is(err, exec.ErrNotFound) {
			return c, err
		}
		logf("start a Redis Cluster: %v; trying again on new ports", err)
	}
	return nil, err
}

func requireCluster(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, exec.ErrNotFound) && os.Getenv("CI") != "true" {
		tb.Skipf("!!! SKIPPED: no redis-server to start a Redis Cluster (%v); install redis-server, or CI=true to make this a failure !!!", err)
	}
	tb.Fatalf("start a Redis Cluster: %v", err)
}

func startCluster(dir string) (_ *Cluster, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for i := range 6 {
		port, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		busPort, err := freeport.Loopback()
		if err != nil {
			return nil, err
		}
		name := "node" + strconv.Itoa(i)
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(busPort),
			"--cluster-config-file", name+".conf", "--cluster-node-timeout", "3000",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", name+".log")
		cmd.Dir = dir
		setDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		n := &clusterNode{addr: "127.0.0.1:" + strconv.Itoa(port), busPort: busPort, cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(n.done) }()
		c.nodes = append(c.nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
		defer clients[i].Close()
		if err := poll(ctx, "node "+n.addr+" answers", func() (bool, error) {
			select {
			case <-n.done:
				return false, fmt.Errorf("redis-server %s exited (see %s)", n.addr, filepath.Join(dir, "node"+strconv.Itoa(i)+".log"))
			default:
			}
			return clients[i].Ping(ctx).Err() == nil, nil
		}); err != nil {
			return nil, err
		}
	}
	// Slots to the masters, everybody meets node 0, each replica follows
	// its master.
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	ids := make([]string, len(c.nodes))
	for i, cl := range clients {
		if ids[i], err = cl.Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
			return nil, err
		}
		if i < 3 {
			if err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
				return nil, err
			}
		}
	}
	host, port0, _ := net.SplitHostPort(c.nodes[0].addr)
	for _, cl := range clients[1:] {
		if err := cl.Do(ctx, "CLUSTER", "MEET", host, port0, c.nodes[0].busPort).Err(); err != nil {
			return nil, err
		}
	}
	for i := 3; i < 6; i++ {
		master := ids[i-3]
		if err := poll(ctx, "replica "+c.nodes[i].addr+" knows its master", func() (bool, error) {
			nodes, err := clients[i].ClusterNodes(ctx).Result()
			return err == nil && strings.Contains(nodes, master), nil
		}); err != nil {
			return nil, err
		}
		if err := clients[i].Do(ctx, "CLUSTER", "REPLICATE", master).Err(); err != nil {
			return nil, err
		}
	}
	if err := c.waitHealthy(ctx, clients); err != nil {
		return nil, err
	}
	return c, nil
}

// waitHealthy waits until every node sees the whole cluster ok with 3
// masters with a replica each, and every replica's link to its master is
// up.
func (c *Cluster) waitHealthy(ctx context.Context, clients []*redis.Client) error {
	for _, cl := range clients {
		if err := poll(ctx, "node "+cl.Options().Addr+" sees the cluster ok", func() (bool, error) {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return false, nil
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:6") {
				return false, nil
			}
			slots, err := cl.ClusterSlots(ctx).Result()
			if err != nil || len(slots) != 3 {
				return false, nil
			}
			for _, s := range slots {
				if len(s.Nodes) != 2 {
					return false, nil // a replica is not known everywhere yet
				}
			}
			repl, err := cl.Info(ctx, "replication").Result()
			if err != nil {
				return false, nil
			}
			if strings.Contains(repl, "role:slave") {
				return strings.Contains(repl, "master_link_status:up"), nil
			}
			return strings.Contains(repl, "connected_slaves:1"), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// URL is the cluster's redis+cluster:// URL.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Failover makes the replica of the master that serves key its master
// (CLUSTER FAILOVER, which waits for the replica to catch up first) and
// waits until every node sees the new master and the cluster is ok again.
// It returns the old and the new master's address.
func (c *Cluster) Failover(ctx context.Context, key string) (oldMaster, newMaster string, err error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	slot, err := clients[0].ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", "", err
	}
	slots, err := clients[0].ClusterSlots(ctx).Result()
	if err != nil {
		return "", "", err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 1 {
			oldMaster, newMaster = s.Nodes[0].Addr, s.Nodes[1].Addr
		}
	}
	if newMaster == "" {
		return "", "", fmt.Errorf("no replica serves slot %d", slot)
	}
	var replica *redis.Client
	for _, cl := range clients {
		if cl.Options().Addr == newMaster {
			replica = cl
		}
	}
	if replica == nil {
		return "", "", fmt.Errorf("replica %s is not a node of this cluster", newMaster)
	}
	if err := replica.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		return "", "", err
	}
	for _, cl := range clients {
		if err := poll(ctx, "node "+cl.Options().Addr+" sees "+newMaster+" serve slot "+strconv.FormatInt(slot, 10), func() (bool, error) {
			slots, err := cl.ClusterSlots(ctx).Result()
			if err != nil {
				return false, nil
			}
			for _, s := range slots {
				if int64(s.Start) <= slot && slot <= int64(s.End) {
					return s.Nodes[0].Addr == newMaster, nil
				}
			}
			return false, nil
		}); err != nil {
			return "", "", err
		}
	}
	return oldMaster, newMaster, c.waitHealthy(ctx, clients)
}

// Stop kills every node and waits for it to exit.
func (c *Cluster) Stop() {
	for _, n := range c.nodes {
		_ = n.cmd.Process.Kill()
	}
	for _, n := range c.nodes {
		<-n.done
	}
	c.nodes = nil
}

// poll calls check every few milliseconds until it reports true, returns
// an error, or ctx ends.
func poll(ctx context.Context, what string, check func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// The cluster the tests of a package share (see Backends and Main).
var shared struct {
	once sync.Once
	c    *Cluster
	dir  string
	err  error
}

// SharedCluster returns the cluster shared by the tests of the package,
// started on first use and stopped by Main.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	shared.once.Do(func() {
		shared.c, shared.err = startClusterRetry(func() (string, error) {
			if shared.dir != "" {
				_ = os.RemoveAll(shared.dir) // a failed attempt's
			}
			var err error
			shared.dir, err = os.MkdirTemp("", "redistest-cluster-")
			return shared.dir, err
		}, tb.Logf)
	})
	if shared.err != nil {
		requireCluster(tb, shared.err)
	}
	return shared.c
}

// Main runs the tests of a package and then stops the shared cluster.
// Call it from TestMain: os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		shared.c.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// backends maps each subtest Backends runs to its client.
var backends sync.Map // testing.TB → redis.UniversalClient

// Backends runs body twice, as the subtests "redis" (the machine's Redis,
// see Client) and "cluster" (a Redis Cluster shared by the package's
// tests, see SharedCluster): one test body, both backends. Inside body,
// Universal returns that backend's client.
func Backends(t *testing.T, body func(t *testing.T)) {
	t.Run("redis", func(t *testing.T) {
		backends.Store(t, redis.UniversalClient(Client(t)))
		t.Cleanup(func() { backends.Delete(t) })
		body(t)
	})
	t.Run("cluster", func(t *testing.T) {
		backends.Store(t, redis.UniversalClient(SharedCluster(t).Client(t)))
		t.Cleanup(func() { backends.Delete(t) })
		body(t)
	})
}

// Universal returns the client of the backend Backends runs tb on, or
// the machine's Redis outside Backends.
func Universal(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	if c, ok := backends.Load(tb); ok {
		return c.(redis.UniversalClient)
	}
	return Client(tb)
}

// NewLike returns a new client with c's options (closed when the test
// ends), for a test that adds hooks of its own.
func NewLike(tb testing.TB, c redis.UniversalClient) redis.UniversalClient {
	var out redis.UniversalClient
	switch c := c.(type) {
	case *redis.Client:
		out = redis.NewClient(c.Options())
	case *redis.ClusterClient:
		out = redis.NewClusterClient(c.Options())
	default:
		tb.Fatalf("redistest: no copy of a %T", c)
	}
	tb.Cleanup(func() { _ = out.Close() })
	return out
}
