package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
)

// natsConn is a connection to JetStream, to the embedded server when no
// URL is configured, with the event store opened on it.
type natsConn struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store *natsstore.Store
	srv   *embedded.Server // nil when NATS_URL names a server
	url   string
}

// openNATS connects to NATS_URL, or starts the embedded server and
// connects to it, and creates or updates the stream.
func openNATS(ctx context.Context, c *config, log *slog.Logger) (*natsConn, error) {
	n := &natsConn{url: c.natsURL}
	opts := []nats.Option{
		nats.Name("thebutton"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	var err error
	if c.natsURL == "" && c.preferRunning {
		// An operator tool next to a running service: use the service's
		// embedded server rather than opening its store a second time.
		url := "nats://" + c.natsListen
		if nc, err := nats.Connect(url, append(opts, nats.Timeout(time.Second), nats.MaxReconnects(0))...); err == nil {
			nc.Close()
			c.natsURL, n.url = url, url
			log.Info("using the running service's embedded nats", "url", url)
		}
	}
	if c.natsURL == "" {
		dir, err := c.natsDir()
		if err != nil {
			return nil, err
		}
		host, portStr, _ := net.SplitHostPort(c.natsListen)
		port, _ := strconv.Atoi(portStr) // 0: a free port
		interval, always, _ := c.syncSetting()
		if interval == 0 && !always {
			// The default: every acknowledged write is on disk (fsync)
			// before its ack, so an accepted press survives a power loss.
			always = true
		}
		n.srv, err = embedded.Start(embedded.Options{Dir: dir, Host: host, Port: port, SyncInterval: interval, SyncAlways: always})
		if err != nil {
			return nil, fmt.Errorf("%w (is another thebutton using %s? set NATS_LISTEN or NATS_URL)", err, c.natsListen)
		}
		n.url = n.srv.ClientURL()
		log.Info("embedded nats started", "url", n.url, "store", dir, "sync_always", always, "sync_interval", interval)
		n.nc, err = n.srv.Connect(true, opts...)
	} else {
		n.nc, err = nats.Connect(c.natsURL, opts...)
	}
	if err != nil {
		n.close()
		return nil, fmt.Errorf("connect to nats %s: %w", n.url, err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		n.close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if n.store, err = natsstore.Open(ctx, n.js, natsstore.Config{Stream: c.stream, Replicas: c.replicas}); err != nil {
		n.close()
		return nil, err
	}
	if !n.store.CanBatch() {
		log.Info("nats server has no atomic batch publish (needs 2.12): presses are appended one at a time",
			"server_version", n.nc.ConnectedServerVersion())
	}
	return n, nil
}

// close drains the connection and stops the embedded server.
func (n *natsConn) close() {
	if n.nc != nil {
		if err := n.nc.Drain(); err != nil {
			n.nc.Close()
		}
		for i := 0; i < 50 && !n.nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n.srv != nil {
		n.srv.Shutdown()
	}
}

// noteBucketReplicas logs each existing key-value bucket among buckets
// whose replica count is not NATS_REPLICAS (want): a bucket made by an
// earlier version at one replica, or by a run with another setting. The
// component that owns a bucket updates it to want when it opens it, as
// openNATS does the stream; this says so once, at start.
func noteBucketReplicas(ctx context.Context, js jetstream.JetStream, want int, log *slog.Logger, buckets ...string) {
	for _, b := range buckets {
		kv, err := js.KeyValue(ctx, b)
		if err != nil {
			continue // not there yet: created at want
		}
		st, err := kv.Status(ctx)
		if err != nil {
			log.Warn("cannot read a key-value bucket's status", "bucket", b, "err", err)
			continue
		}
		bs, ok := st.(*jetstream.KeyValueBucketStatus)
		if !ok || bs.StreamInfo() == nil {
			continue
		}
		if have := bs.StreamInfo().Config.Replicas; have != want {
			log.Warn("key-value bucket replicas differ from NATS_REPLICAS: updating the bucket", "bucket", b, "replicas", have, "want", want)
		}
	}
}
