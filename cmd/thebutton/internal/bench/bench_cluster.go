package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/internal/freeport"
)

// Cluster is a JetStream cluster of child processes of this binary
// (`bench clicks --serve-node`), on loopback, for `bench clicks --cluster`:
// a node can be killed with SIGKILL like a real server. URLs are its
// nodes' client URLs, comma-separated (a NATS_URL).
type Cluster struct {
	dir   string
	URLs  string
	nodes map[string]*exec.Cmd
}

func startBenchCluster(ctx context.Context, n, procs int) (*Cluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return StartNodeCluster(ctx, exe, n, procs, os.Stderr)
}

// StartNodeCluster starts n nodes as child processes of exe (this program,
// or a build of it that a test runs), each writing its log to out. With
// procs > 0 each node runs with GOMAXPROCS=procs (otherwise as this
// process's environment says).
func StartNodeCluster(ctx context.Context, exe string, n, procs int, out io.Writer) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "thebutton-bench-cluster-")
	if err != nil {
		return nil, err
	}
	bc := &Cluster{dir: dir, nodes: map[string]*exec.Cmd{}}
	ports := make([]int, 2*n)
	for i := range ports {
		if ports[i], err = freeport.Loopback(); err != nil {
			bc.Stop()
			return nil, err
		}
	}
	var routes, urls []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	bc.URLs = strings.Join(urls, ",")
	for i := range n {
		name := fmt.Sprintf("node%d", i+1)
		o := embedded.Options{Dir: fmt.Sprintf("%s/%s", dir, name), Host: "127.0.0.1", Port: ports[i], ServerName: name,
			Cluster: "bench", ClusterPort: ports[n+i], Routes: routes}
		spec, _ := json.Marshal(o)
		cmd := exec.CommandContext(ctx, exe, "bench", "clicks", "--serve-node", string(spec))
		cmd.Stdout, cmd.Stderr = out, out
		if procs > 0 {
			cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			bc.Stop()
			return nil, fmt.Errorf("start cluster node %s: %w", name, err)
		}
		bc.nodes[name] = cmd
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range urls {
		for {
			nc, err := nats.Connect(u, nats.Timeout(time.Second))
			if err == nil {
				nc.Close()
				break
			}
			if time.Now().After(deadline) {
				bc.Stop()
				return nil, fmt.Errorf("cluster node %s not up: %w", u, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// JetStream answers once the nodes elected a meta leader.
	nc, err := nats.Connect(bc.URLs, nats.Timeout(time.Second))
	if err != nil {
		bc.Stop()
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		bc.Stop()
		return nil, err
	}
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return bc, nil
		}
		if time.Now().After(deadline) {
			bc.Stop()
			return nil, fmt.Errorf("cluster has no JetStream after 30s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLeader sends SIGKILL to the node leading the store's stream.
func (bc *Cluster) killLeader(ctx context.Context, store *natsstore.Store) (string, error) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name, err := store.Leader(ictx)
	if err != nil {
		return "", err
	}
	if bc.nodes[name] == nil {
		return "", errors.New("the stream has no known leader")
	}
	return name, bc.nodes[name].Process.Kill()
}

// PIDs returns each node's process id by node name.
func (bc *Cluster) PIDs() map[string]int {
	out := map[string]int{}
	for name, cmd := range bc.nodes {
		out[name] = cmd.Process.Pid
	}
	return out
}

// Stop kills every node and removes their stores.
func (bc *Cluster) Stop() {
	for _, cmd := range bc.nodes {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	os.RemoveAll(bc.dir)
}

// serveClusterNode runs one node of a bench cluster until ctx ends.
func serveClusterNode(ctx context.Context, spec string) error {
	var o embedded.Options
	if err := json.Unmarshal([]byte(spec), &o); err != nil {
		return fmt.Errorf("serve-node: %w", err)
	}
	srv, err := embedded.Start(o)
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}
