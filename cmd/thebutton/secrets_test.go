package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/cmd/thebutton/internal/bench"
	"github.com/thebutton-game/thebutton/internal/freeport"
	"github.com/thebutton-game/thebutton/internal/testproxy"
	"github.com/thebutton-game/thebutton/internal/testwait"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// TestRunLogsNoSecret runs the whole service, `thebutton run`, with every
// secret set: a Discord token (the fake Discord checks it), a password in
// MYSQL_DSN (a private MariaDB user) and one in REDIS_URL (a private
// redis-server with requirepass). At debug level it goes through a start
// with MySQL refused (its errors logged), a game started and pressed
// through the bot, a page, /metrics and /readyz, and a shutdown; no line
// of its log holds a secret.
//
// The fake Discord is reached through http.DefaultTransport (see
// botWorld): the test must not run in parallel with others.
func TestRunLogsNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a private MariaDB and redis-server")
	}
	token := "tok" + bench.RandomHex(16)
	redisPass := "rpw" + bench.RandomHex(12)
	mysqlPass := "mpw" + bench.RandomHex(12)
	secrets := map[string]string{"DISCORD_TOKEN": token, "the Redis password": redisPass, "the MySQL password": mysqlPass}

	// Discord.
	bots := newBotWorld(t, token, 1)

	// Redis with a password.
	redisAddr := redisWithPassword(t, redisPass)
	redisURL := "redis://:" + redisPass + "@" + redisAddr + "/0"

	// MySQL with a password, behind a proxy that refuses at first.
	rootDSN, _, _ := mysqltest.StartServer(t)
	root, err := sql.Open("mysql", rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	root.SetMaxOpenConns(1) // privileges are checked from FLUSH on, for new connections
	for _, q := range []string{
		"FLUSH PRIVILEGES", // the private server starts with --skip-grant-tables
		"CREATE USER 'bot'@'%' IDENTIFIED BY '" + mysqlPass + "'",
		"GRANT ALL PRIVILEGES ON thebutton.* TO 'bot'@'%'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rcfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testproxy.New(t, rcfg.Addr)
	proxy.Refuse()
	mcfg := mysql.NewConfig()
	mcfg.User, mcfg.Passwd, mcfg.Net, mcfg.Addr, mcfg.DBName = "bot", mysqlPass, "tcp", proxy.Addr(), "thebutton"

	addr := loopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--http", addr}, &out, &out, env(map[string]string{
			"DATA_DIR": t.TempDir(), "NATS_LISTEN": "127.0.0.1:0", "LOG_LEVEL": "debug",
			"REDIS_URL": redisURL, "MYSQL_DSN": mcfg.FormatDSN(), "DISCORD_TOKEN": token,
			"PUBLIC_URL": "http://" + addr,
		}))
	}()
	waitLog := func(what string) {
		t.Helper()
		testwait.For(t, 60*time.Second, func() bool {
			select {
			case code := <-done:
				t.Fatalf("run exited early with %d:\n%s", code, out.String())
			default:
			}
			return strings.Contains(out.String(), what)
		}, func() string { return fmt.Sprintf("%q not logged:\n%s", what, out.String()) })
	}
	waitLog("discord gateway connected") // the gateway opens in the background: commands before it are lost
	waitLog("thebutton running")
	waitLog("mysql unavailable") // its error is logged with the DSN's address
	proxy.Resume()

	// A game started and pressed through the bot.
	game, msg := bots.startGame(ctx)
	t.Logf("press answered %q", bots.press(ctx, bots.players[0], game, msg))

	// Pages, metrics and readiness: ready once MySQL holds everything.
	client := &http.Client{Timeout: 5 * time.Second}
	fetch := func(path string) int {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	testwait.For(t, 60*time.Second, func() bool { return fetch("/readyz") == http.StatusOK },
		func() string { return "never ready:\n" + out.String() })
	for _, path := range []string{"/", "/metrics", fmt.Sprintf("/games/%d", game)} {
		fetch(path)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited with %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s")
	}

	log := out.String()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) < 20 || !strings.Contains(log, "level=DEBUG") || !strings.Contains(log, "stopped") {
		t.Fatalf("the log is too thin to prove anything (%d lines):\n%s", len(lines), log)
	}
	for n, line := range lines {
		for what, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line %d holds %s: %s", n+1, what, line)
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d log lines, no secret among them", len(lines))
	}
}

// redisWithPassword starts a redis-server of its own on a free port with
// requirepass, without persistence, stopped when the test ends; it returns
// its address.
func redisWithPassword(t *testing.T, pass string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "NO redis-server binary: %v", err)
	}
	port := freeport.ForTest(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--requirepass", pass)
	logFile, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // owned: cleanup waits for it
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: pass})
	defer rdb.Close()
	testwait.For(t, 10*time.Second, func() bool { return rdb.Ping(context.Background()).Err() == nil },
		func() string { return "redis-server with a password not ready on " + addr })
	return addr
}
