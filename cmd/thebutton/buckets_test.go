package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/discordbot/discordtest"
	"github.com/thebutton-game/thebutton/discordkv"
	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// inProcessCluster starts a JetStream cluster of n nodes in this process,
// on loopback ports, and returns its client URLs, comma separated.
func inProcessCluster(t *testing.T, n int) string {
	t.Helper()
	clientPorts, routePorts := make([]int, n), make([]int, n)
	var routes []string
	for i := range n {
		clientPorts[i], routePorts[i] = freeport.ForTest(t), freeport.ForTest(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]))
	}
	var urls []string
	for i := range n {
		srv, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "buckets", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
		urls = append(urls, srv.ClientURL())
	}
	return strings.Join(urls, ",")
}

// loopbackAddr returns a free host:port on 127.0.0.1.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freeport.ForTest(t))
}

// bucketReplicas returns a key-value bucket's replica count (0: absent).
func bucketReplicas(ctx context.Context, js jetstream.JetStream, bucket string) (int, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return 0, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas, nil
}

// TestRunShardBucketsAtStreamReplicas runs `thebutton run` with
// NATS_REPLICAS=3 on a 3-node cluster whose lease buckets an earlier
// version made at one replica: the shard leases and shared budget
// (BUTTON_DISCORD) and the projection and reactor leases
// (BUTTON_PROJECTORS) end up at three replicas, as the stream, and the
// log says the buckets were updated.
func TestRunShardBucketsAtStreamReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a cluster and a service")
	}
	const token = "bucket-token"
	newBotWorldWith(t, discordtest.Options{Token: token, Shards: 1, MaxConcurrency: 1}, 1) // Discord, faked for the process
	urls := inProcessCluster(t, 3)
	redisURL, _, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The buckets as an earlier version left them: one replica.
	for _, b := range []string{discordkv.DefaultBucket, projector.DefaultLeaseBucket} {
		testwait.For(t, 60*time.Second, func() bool {
			// A fresh cluster answers once it elected its meta leader.
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = js.CreateKeyValue(actx, jetstream.KeyValueConfig{Bucket: b, History: 1, Storage: jetstream.FileStorage, Replicas: 1})
			return err == nil
		}, func() string { return fmt.Sprintf("create bucket %s at R1: %v", b, err) })
	}

	var out syncBuffer
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Main(rctx, []string{"run", "--http", ""}, &out, &out, env(map[string]string{
			"DATA_DIR": t.TempDir(), "NATS_URL": urls, "NATS_REPLICAS": "3", "LOG_LEVEL": "info",
			"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn, "DISCORD_TOKEN": token,
			"DISCORD_SHARDS": "auto", "PROJECTOR_LEASE_TTL": "2s",
		}))
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("run did not stop:\n%s", tail(out.String(), 3000))
		}
	})
	testwait.For(t, 90*time.Second, func() bool {
		return strings.Contains(out.String(), "shard lease taken")
	}, func() string { return "no shard lease taken:\n" + tail(out.String(), 3000) })

	for _, b := range []string{discordkv.DefaultBucket, projector.DefaultLeaseBucket} {
		var got int
		testwait.For(t, 30*time.Second, func() bool {
			got, err = bucketReplicas(ctx, js, b)
			return err == nil && got == 3
		}, func() string { return fmt.Sprintf("bucket %s at %d replicas (%v), want 3", b, got, err) })
	}
	// The buckets hold what they are for: a shard lease, a projection's
	// (taken once the projector caught up, which may be after the shard).
	for b, key := range map[string]string{discordkv.DefaultBucket: "shard", projector.DefaultLeaseBucket: "lease."} {
		var keys []string
		testwait.For(t, 30*time.Second, func() bool {
			kv, err := js.KeyValue(ctx, b)
			if err != nil {
				return false
			}
			lister, err := kv.ListKeys(ctx)
			if err != nil {
				return false
			}
			keys = keys[:0]
			for k := range lister.Keys() {
				keys = append(keys, k)
				if strings.Contains(k, key) {
					return true
				}
			}
			return false
		}, func() string {
			return fmt.Sprintf("bucket %s holds no %q key: %v\n%s", b, key, keys, tail(out.String(), 3000))
		})
	}
	for _, b := range []string{discordkv.DefaultBucket, projector.DefaultLeaseBucket} {
		if !strings.Contains(out.String(), "bucket="+b+" replicas=1 want=3") {
			t.Errorf("the log does not say bucket %s was updated:\n%s", b, tail(out.String(), 3000))
		}
	}
}
