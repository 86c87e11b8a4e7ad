package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/metrics"
)

// errNotProbed is a sink's readiness before its first probe answered.
var errNotProbed = errors.New("not probed yet")

// readyProbe is a probe of sink whose last result is also a condition of
// readiness: /readyz is 503 while the store cannot be reached, and says
// why, without pinging the store on every request.
func readyProbe(ready *metrics.Readiness, sink string, ping func(context.Context) error) metrics.Probe {
	var last atomic.Pointer[error]
	first := errNotProbed
	last.Store(&first)
	ready.AddCheck(sink, func(context.Context) error { return *last.Load() })
	return metrics.Probe{Sink: sink, Check: func(ctx context.Context) error {
		err := ping(ctx)
		last.Store(&err)
		return err
	}}
}

// mysqlProbeDB returns a small pool for pinging MySQL that connects only
// when used, so it exists while MySQL is unreachable; it never creates the
// database. dsn has been checked by config.check.
func mysqlProbeDB(dsn secret) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(string(dsn))
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// mysqlLogger hands the driver's messages to slog (see libLog).
type mysqlLogger struct{}

func (mysqlLogger) Print(v ...any) {
	libLog.Load().Warn("mysql driver", "component", "mysql-driver", "detail", fmt.Sprint(v...))
}
