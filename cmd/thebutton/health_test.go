package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// opsFreeAddr returns a loopback address nothing listens on.
func opsFreeAddr(t *testing.T) string {
	t.Helper()
	addr := loopbackAddr(t)
	return addr
}

// opsHttpGet returns the status and body of url, or an error.
func opsHttpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// opsWaitFor polls cond every 20 ms until it holds or d passes.
func opsWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not after %s", what, d)
		}
		<-tick.C
	}
	return time.Since(start)
}

// opsSinkUp returns the value of thebutton_sink_up{sink} in a scrape, and
// whether the series is there.
func opsSinkUp(scrape, sink string) (string, bool) {
	m := regexp.MustCompile(`(?m)^thebutton_sink_up\{sink="` + sink + `"\} (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// opsRunService runs `thebutton run` with vars until the test ends and
// returns its web address and its output.
func opsRunService(t *testing.T, vars map[string]string) (addr string, out *syncBuffer) {
	t.Helper()
	addr = opsFreeAddr(t)
	out = &syncBuffer{}
	vars["DATA_DIR"] = t.TempDir()
	vars["NATS_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run", "--http", addr}, out, out, env(vars)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited with %d:\n%s", code, out.String())
		}
	})
	return addr, out
}

// Issue 14: `run` started while MySQL does not answer (a hang, not a
// refusal) exports thebutton_sink_up{sink="mysql"} 0 from its first
// scrape, /readyz says 503 naming MySQL, and both turn to up within
// seconds of MySQL answering again.
func TestRunWithMySQLDownSinceStart(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb, "health")
	cfg, err := mysql.ParseDSN(mysqltest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := opsNewFaultProxy(t, cfg.Addr, false) // hangs from the start
	cfg.Addr = proxy.addr()
	addr, out := opsRunService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": prefix, "MYSQL_DSN": cfg.FormatDSN(),
	})

	var first string
	opsWaitFor(t, 30*time.Second, "first scrape", func() bool {
		code, body, err := opsHttpGet("http://" + addr + "/metrics")
		first = body
		return err == nil && code == http.StatusOK
	})
	if v, ok := opsSinkUp(first, "mysql"); !ok || v != "0" {
		t.Errorf("first scrape: thebutton_sink_up{sink=\"mysql\"} = %q (present %v), want 0", v, ok)
	}
	if _, ok := opsSinkUp(first, "redis"); !ok {
		t.Errorf("first scrape has no thebutton_sink_up{sink=\"redis\"}")
	}
	code, body, err := opsHttpGet("http://" + addr + "/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "mysql") {
		t.Errorf("/readyz with MySQL hanging: %d %q %v, want 503 naming mysql", code, body, err)
	}

	proxy.resume()
	took := opsWaitFor(t, 20*time.Second, "sink_up mysql 1 after MySQL is back", func() bool {
		_, body, err := opsHttpGet("http://" + addr + "/metrics")
		v, _ := opsSinkUp(body, "mysql")
		return err == nil && v == "1"
	})
	t.Logf("thebutton_sink_up{sink=\"mysql\"} 1 %s after MySQL answered again", took.Round(time.Millisecond))
	opsWaitFor(t, 40*time.Second, "/readyz 200 after MySQL is back", func() bool {
		code, _, err := opsHttpGet("http://" + addr + "/readyz")
		return err == nil && code == http.StatusOK
	})
	if !regexp.MustCompile(`msg="sink reachable again" .*sink=mysql`).MatchString(out.String()) {
		t.Errorf("no log line for MySQL coming back:\n%s", out.String())
	}
}

// Configuration that cannot work stops `run` at once, with every problem
// listed, and without quoting the DSN's password.
func TestRunRejectsUnworkableConfig(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := Main(ctx, []string{"run"}, &out, &out, env(map[string]string{
		"MYSQL_DSN":  "mysql://button:hunter2@db.example:3306/thebutton",
		"REDIS_URL":  "http://127.0.0.1:6379",
		"NATS_URL":   "http://127.0.0.1:4222",
		"HTTP_ADDR":  "8080",
		"PUBLIC_URL": "ftp://x",
		"DATA_DIR":   t.TempDir(),
	}))
	if ctx.Err() != nil {
		t.Fatal("run did not return within 10 s")
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1:\n%s", code, out.String())
	}
	got := out.String()
	for _, want := range []string{"MYSQL_DSN", "REDIS_URL", "NATS_URL", "HTTP_ADDR", "PUBLIC_URL"} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not name %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("the DSN's password was printed:\n%s", got)
	}
}

// With LOG_FORMAT=json every line of the process is JSON, also the lines
// of the Redis and MySQL client libraries (Redis unreachable here, so
// go-redis has something to say).
func TestJSONLogsAreAllJSON(t *testing.T) {
	dead := opsFreeAddr(t)
	addr, out := opsRunService(t, map[string]string{
		"LOG_FORMAT": "json", "REDIS_URL": "redis://" + dead + "/0", "MYSQL_DSN": "u:p@tcp(" + dead + ")/db",
	})
	opsWaitFor(t, 30*time.Second, "readyz naming redis", func() bool {
		code, body, err := opsHttpGet("http://" + addr + "/readyz")
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "redis: dial tcp")
	})
	redis, _ := opsRedisLoggerOutput()
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d is not JSON: %s", i+1, line)
		}
	}
	if !strings.Contains(redis, `"component":"go-redis"`) {
		t.Errorf("go-redis's own line did not come through slog as JSON: %q", redis)
	}
}

// opsRedisLoggerOutput writes one line through the logger handed to go-redis
// and returns what the current logger printed.
func opsRedisLoggerOutput() (string, error) {
	var b strings.Builder
	prev := libLog.Load()
	defer libLog.Store(prev)
	libLog.Store(slog.New(slog.NewJSONHandler(&b, nil)))
	redisLogger{}.Printf(context.Background(), "redis: %s", "connection pool: test")
	return b.String(), nil
}

// A MYSQL_DSN naming a database that does not exist: `run` creates it and
// says so in one warning naming the database.
func TestRunSaysItCreatedTheDatabase(t *testing.T) {
	base, err := mysql.ParseDSN(mysqltest.DSN(t)) // a server that answers
	if err != nil {
		t.Fatal(err)
	}
	base.DBName = mysqltest.DatabaseName(t)
	t.Cleanup(func() {
		admin := base.Clone()
		admin.DBName = ""
		db, err := sql.Open("mysql", admin.FormatDSN())
		if err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS `" + base.DBName + "`")
			db.Close()
		}
	})
	rdb := redistest.Client(t)
	addr, out := opsRunService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": redistest.Prefix(t, rdb, "health"), "MYSQL_DSN": base.FormatDSN(),
	})
	opsWaitFor(t, 60*time.Second, "ready", func() bool {
		code, _, err := opsHttpGet("http://" + addr + "/readyz")
		return err == nil && code == http.StatusOK
	})
	want := regexp.MustCompile(`level=WARN msg="mysql database was missing: created it" .*database=` + base.DBName)
	if n := len(want.FindAllString(out.String(), -1)); n != 1 {
		t.Errorf("%d warnings that the database was created, want 1:\n%s", n, out.String())
	}
}
