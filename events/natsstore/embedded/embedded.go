// Package embedded runs a NATS server with JetStream inside this process,
// for `thebutton run` without NATS_URL and for tests. It owns the server's
// options and nothing of the event model.
package embedded

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configures the embedded server.
type Options struct {
	// Dir is where JetStream stores the stream. Required.
	Dir string
	// Host and Port of the client listener; the nats CLI connects there.
	// Port 0 picks a free port.
	Host string
	Port int
	// SyncInterval is how often JetStream flushes to disk (0: the server's
	// default of two minutes). SyncAlways flushes every write.
	SyncInterval time.Duration
	SyncAlways   bool
	// HTTPPort, if not 0, serves the monitoring endpoints (-1 picks one).
	HTTPPort int
	// ServerName names the server in cluster and monitoring output.
	ServerName string
	// Cluster, if not empty, names a JetStream cluster this server joins:
	// it listens for routes on ClusterPort (on Host) and connects to Routes
	// (nats-route://host:port URLs, its own may be among them).
	Cluster     string
	ClusterPort int
	Routes      []string
}

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("embedded nats: a store directory is required")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	name := o.ServerName
	if name == "" {
		name = "thebutton-embedded"
	}
	opts := &server.Options{
		ServerName:   name,
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     o.Dir,
		SyncInterval: o.SyncInterval,
		SyncAlways:   o.SyncAlways,
		NoSigs:       true,
		NoLog:        true,
		HTTPHost:     host,
		HTTPPort:     o.HTTPPort,
	}
	if o.Cluster != "" {
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: host, Port: o.ClusterPort}
		opts.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s (store %s, %s:%d)", o.Dir, host, port)
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the nats:// URL clients (and the nats CLI) connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Connect opens a client connection to the server, in process (no TCP)
// when inProcess is true.
func (s *Server) Connect(inProcess bool, opts ...nats.Option) (*nats.Conn, error) {
	if inProcess {
		opts = append(opts, nats.InProcessServer(s.srv))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
