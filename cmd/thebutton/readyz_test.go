package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/internal/testproxy"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
)

// `run` started on a stream with a backlog is not ready until both
// projectors have caught up: /readyz answers 503 first, and when it first
// answers 200 both projections hold the whole backlog.
//
// MySQL is reached through a proxy that refuses connections until /readyz
// has answered once: on a fast machine both projections could otherwise
// hold the backlog before the web server listens, and the 503 would never
// be seen.
func TestReadyzWaitsForProjectorsAfterBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a backlog of presses")
	}
	redisURL, rdb, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	mcfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testproxy.New(t, mcfg.Addr)
	proxy.Refuse()
	mcfg.Addr = proxy.Addr()
	proxied := mcfg.FormatDSN()
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
	backlog, err := store.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	nc.Close()
	srv.Shutdown()

	addr := loopbackAddr(t)
	rctx, cancel := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(rctx, []string{"run", "--http", addr}, &out, &out, env(map[string]string{
			"DATA_DIR": dir, "NATS_LISTEN": "127.0.0.1:0", "REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "MYSQL_DSN": proxied,
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
	get := func() (status int) {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0 // not listening yet
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			unready++
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz answered %d", resp.StatusCode)
		}
		return resp.StatusCode
	}
	var first int
	testwait.For(t, 30*time.Second, func() bool { first = get(); return first != 0 },
		func() string { return "/readyz not answering:\n" + out.String() })
	if first != http.StatusServiceUnavailable {
		t.Fatalf("/readyz first answered %d while MySQL was refused, want 503", first)
	}
	proxy.Resume()
	testwait.For(t, 60*time.Second, func() bool { return get() == http.StatusOK },
		func() string { return fmt.Sprintf("not ready (%d answers 503):\n%s", unready, out.String()) })
	redisPos, err := redisproj.NewReader(rdb, prefix).Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	history, err := mysqlproj.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer history.Close()
	mysqlPos, err := history.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if redisPos < backlog || mysqlPos < backlog {
		t.Fatalf("ready with projections at redis %d, mysql %d of a backlog of %d", redisPos, mysqlPos, backlog)
	}
	t.Logf("ready after %d answers 503; backlog %d, redis %d, mysql %d", unready, backlog, redisPos, mysqlPos)
}
