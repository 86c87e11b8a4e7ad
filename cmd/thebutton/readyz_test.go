package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// `run` started on a stream with a backlog is not ready until both
// projectors have caught up: /readyz answers 503 first, and when it first
// answers 200 both projections hold the whole backlog.
func TestReadyzWaitsForProjectorsAfterBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a backlog of presses")
	}
	redisURL, rdb, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	dir := t.TempDir()
	ctx := context.Background()

	// The backlog: one game and 3,000 clicks, written while nothing projects.
	srv, err := embedded.Start(embedded.Options{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(true)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	store, err := natsstore.Open(ctx, js, natsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := commands.NewHandler(store, nil, nil)
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := h.StartGame(ctx, commands.StartGame{Guild: "1", Channel: "2", By: "3", Duration: time.Hour, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := h.Press(ctx, commands.Press{Game: g.Game, Guild: "1", User: fmt.Sprint(100 + i%50), Interaction: fmt.Sprint("b", i)}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := store.Stream().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	backlog := info.State.LastSeq
	h.Close()
	nc.Close()
	srv.Shutdown()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rctx, cancel := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(rctx, []string{"run", "--http", addr}, &out, &out, env(map[string]string{
			"DATA_DIR": dir, "NATS_LISTEN": "127.0.0.1:0", "REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn,
		}))
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited with %d:\n%s", code, out.String())
		}
	}()

	client := &http.Client{Timeout: time.Second}
	unready := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 60s (%d answers 503):\n%s", unready, out.String())
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			time.Sleep(2 * time.Millisecond) // not listening yet
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz answered %d", resp.StatusCode)
		}
		unready++
	}
	redisPos, err := redisproj.NewReader(rdb, prefix).Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mysql, err := mysqlproj.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mysql.Close()
	mysqlPos, err := mysql.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if redisPos < backlog || mysqlPos < backlog {
		t.Fatalf("ready with projections at redis %d, mysql %d of a backlog of %d", redisPos, mysqlPos, backlog)
	}
	if unready == 0 {
		t.Errorf("/readyz was never 503 while %d events were projected", backlog)
	}
	t.Logf("ready after %d answers 503; backlog %d, redis %d, mysql %d", unready, backlog, redisPos, mysqlPos)
}
