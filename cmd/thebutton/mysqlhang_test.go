package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/internal/testproxy"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// `run` started while MySQL hangs (a proxy that accepts connections and
// never answers, as behind a firewall that drops packets) still starts:
// it serves /healthz, answers /readyz with 503 while the history cannot
// be written, and the bot accepts every press, through the fake Discord,
// the whole path a press takes in production. Once MySQL answers again
// the service becomes ready, and the history holds every click.
func TestRunStartsWhileMySQLHangs(t *testing.T) {
	redisURL, _, prefix := testRedis(t)
	dsn := mysqltest.DSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const token = "hang-test-token"
	bots := newBotWorld(t, token, 12)
	proxy := testproxy.New(t, cfg.Addr)
	proxy.Hang()
	cfg.Addr = proxy.Addr()
	addr := loopbackAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--http", addr}, &out, &out, env(map[string]string{
			"DATA_DIR": t.TempDir(), "NATS_LISTEN": "127.0.0.1:0", "REDIS_URL": redisURL, "REDIS_PREFIX": prefix,
			"MYSQL_DSN": cfg.FormatDSN(), "DISCORD_TOKEN": token,
		}))
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(path string) int {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Start-up gives up on a hanging MySQL after a few seconds; 30 s is
	// the margin for a loaded machine.
	testwait.For(t, 30*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("run exited with %d:\n%s", code, out.String())
		default:
		}
		return strings.Contains(out.String(), "thebutton running") && status("/healthz") == http.StatusOK
	}, func() string { return "run not serving while MySQL hangs:\n" + out.String() })
	testwait.For(t, 30*time.Second, func() bool { return strings.Contains(out.String(), "discord gateway connected") },
		func() string { return "the bot never connected to the gateway:\n" + out.String() })
	game, msg := bots.startGame(ctx)
	for _, p := range bots.players {
		if a := bots.press(ctx, p, game, msg); !strings.Contains(a, fmt.Sprintf("You pressed game #%d", game)) {
			t.Errorf("press by %s while MySQL hangs answered %q, want it accepted", p, a)
		}
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d while MySQL hangs, want 503", got)
	}
	proxy.Resume()
	testwait.For(t, 60*time.Second, func() bool { return status("/readyz") == http.StatusOK },
		func() string { return fmt.Sprintf("not ready after MySQL answered again:\n%s", out.String()) })
	history, err := mysqlproj.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer history.Close()
	var clicks int
	if err := history.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM clicks WHERE game = ?", game).Scan(&clicks); err != nil {
		t.Fatal(err)
	}
	if clicks != len(bots.players) {
		t.Errorf("the history holds %d clicks of game %d, want the %d pressed while MySQL hung", clicks, game, len(bots.players))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited with %d:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s")
	}
}
