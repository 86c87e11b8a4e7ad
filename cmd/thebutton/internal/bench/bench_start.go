package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/embedded"
	"github.com/thebutton-game/thebutton/internal/freeport"
)

// startResult is what `bench start` prints.
type startResult struct {
	Games  int     `json:"games"`
	Events int     `json:"events"`
	SeedS  float64 `json:"seed_s,omitempty"`
	// CatchUpS is the first run's start: the projections applied every
	// event from scratch before /readyz said 200.
	CatchUpS float64    `json:"catch_up_s"`
	Runs     []startRun `json:"runs"`
}

// startRun is one timed start of `thebutton run` on projections that are
// caught up: from the process's start to /readyz 200, and its memory then.
type startRun struct {
	Binary    string  `json:"binary"`
	ReadyS    float64 `json:"ready_s"`
	PeakRSSMB float64 `json:"peak_rss_mb"` // VmHWM at ready
	RSSMB     float64 `json:"rss_mb"`      // VmRSS at ready
	// ReadAllS is when the handler had read every active game whole in
	// the background (its log line), from the process's start; 0 when the
	// run did not get there within the ready wait. PeakAfterReadMB is
	// VmHWM 5 s after that: the peak of the whole start.
	ReadAllS        float64 `json:"read_all_s,omitempty"`
	PeakAfterReadMB float64 `json:"peak_rss_after_read_mb,omitempty"`
}

// readAllLine is what the handler logs once its background read of every
// active game is done (commands/warm.go).
const readAllLine = "active games read in the background"

// runBenchStart seeds a data directory with a stream of active games,
// lets a first `thebutton run` bring the Redis and MySQL projections up to
// date, then times further starts of `thebutton run` (process start to
// /readyz 200) and reads their peak memory.
func runBenchStart(ctx context.Context, a *Env, args []string) error {
	fs := newFlagSet(a, "bench start", "bench start --games G --events E [--runs N] [--dir D] [--binary PATH]")
	games := fs.Int("games", 10000, "active games in the stream")
	total := fs.Int("events", 1000000, "events in all: a start and clicks per game")
	runs := fs.Int("runs", 2, "timed starts after the first")
	dir := fs.String("dir", "", "data directory (kept); empty: a scratch one, removed afterwards")
	binary := fs.String("binary", "", "thebutton binaries the timed starts run, comma-separated, --runs each (default: this one), e.g. an older build to compare")
	readyWait := fs.Duration("ready-wait", 30*time.Minute, "how long one start may take to be ready")
	s := a.w.Flags(fs, Flags{Sinks: true, Log: true})
	if err := parseFlags(a, fs, args, func() error {
		if *games < 1 || *total < *games || *runs < 1 {
			return errors.New("games must be positive, events at least games, runs at least 1")
		}
		return nil
	}); err != nil {
		return err
	}
	c := s.Config()
	log := c.Log
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if *binary == "" {
		*binary = self
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "thebutton-bench-start-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	res := startResult{Games: *games, Events: *total / *games * *games}
	if res.SeedS, err = seedDir(ctx, *dir, *games, *total / *games); err != nil {
		return err
	}
	log.Info("stream seeded", "dir", *dir, "games", res.Games, "events", res.Events, "took_s", res.SeedS)

	env, cleanup, err := benchStartEnv(ctx, a.w, c, *dir)
	if err != nil {
		return err
	}
	defer cleanup()
	migrate := exec.CommandContext(ctx, self, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %w: %s", err, out)
	}
	first, err := timeStart(ctx, self, env, *dir, "run-0.log", *readyWait)
	if err != nil {
		return fmt.Errorf("first start (projections from scratch): %w", err)
	}
	res.CatchUpS = first.ReadyS
	log.Info("projections caught up", "took_s", first.ReadyS)
	for b, bin := range strings.Split(*binary, ",") {
		for i := range *runs {
			r, err := timeStart(ctx, bin, env, *dir, fmt.Sprintf("run-%d-%d.log", b, i+1), *readyWait)
			if err != nil {
				return err
			}
			r.Binary = bin
			log.Info("started", "binary", bin, "run", i+1, "ready_s", r.ReadyS, "peak_rss_mb", r.PeakRSSMB,
				"read_all_s", r.ReadAllS, "peak_rss_after_read_mb", r.PeakAfterReadMB)
			res.Runs = append(res.Runs, r)
		}
	}
	return printJSON(a.stdout, res)
}

// seedDir seeds dir's stream with games active games of perGame events,
// unless dir holds that seed already (seed.json); it returns the time
// the seed took (0 when it was there).
func seedDir(ctx context.Context, dir string, games, perGame int) (float64, error) {
	mark := filepath.Join(dir, "seed.json")
	want, _ := json.Marshal(map[string]int{"games": games, "per_game": perGame})
	if have, err := os.ReadFile(mark); err == nil {
		if string(have) == string(want) {
			return 0, nil
		}
		return 0, fmt.Errorf("%s holds another seed (%s); use another --dir", dir, have)
	}
	began := time.Now()
	srv, err := embedded.Start(embedded.Options{Dir: filepath.Join(dir, "nats"), Host: "127.0.0.1", SyncInterval: time.Minute})
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect(false)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	if _, err := natsstore.Open(ctx, js, natsstore.Config{}); err != nil {
		return 0, err
	}
	spec := seedSpec{games: games, perGame: perGame, base: 1, atMS: time.Now().UnixMilli() - int64(perGame)}
	if _, err := seed(ctx, js, spec); err != nil {
		return 0, err
	}
	if err := nc.Drain(); err != nil {
		return 0, err
	}
	return time.Since(began).Seconds(), os.WriteFile(mark, want, 0o644)
}

// benchStartEnv is the environment of the children: their own ports,
// Redis prefix and MySQL database, no Discord. cleanup removes the Redis
// keys and the database.
func benchStartEnv(ctx context.Context, w Wiring, c Config, dir string) (env []string, cleanup func(), err error) {
	dbCfg, err := mysql.ParseDSN(c.MySQLDSN)
	if err != nil {
		return nil, nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	id := strings.ToLower(nuid.Next()[:10])
	dbCfg.DBName = "thebutton_benchstart_" + id
	prefix := "benchstart-" + id + ":"
	ports := make([]int, 2)
	for i := range ports {
		if ports[i], err = freeport.Loopback(); err != nil {
			return nil, nil, err
		}
	}
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "NATS_URL", "DISCORD_TOKEN", "DATA_DIR", "NATS_LISTEN", "HTTP_ADDR", "REDIS_PREFIX", "MYSQL_DSN", "REDIS_URL":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "DATA_DIR="+dir, "NATS_LISTEN=127.0.0.1:"+strconv.Itoa(ports[0]),
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(ports[1]), "REDIS_URL="+c.RedisURL, "REDIS_PREFIX="+prefix,
		"MYSQL_DSN="+dbCfg.FormatDSN())
	cleanup = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		root := *dbCfg
		root.DBName = ""
		if db, err := sql.Open("mysql", root.FormatDSN()); err == nil {
			_, _ = db.ExecContext(cctx, "DROP DATABASE IF EXISTS `"+dbCfg.DBName+"`")
			_ = db.Close()
		}
		if rdb, err := w.OpenRedis(c.RedisURL); err == nil {
			// A million events leave hundreds of thousands of keys.
			_ = deleteRedisPrefix(cctx, w, rdb, prefix)
			_ = rdb.Close()
		}
	}
	return env, cleanup, nil
}

// timeStart starts `binary run`, waits for /readyz 200, reads its memory,
// then stops it (SIGTERM) and waits for it to exit.
func timeStart(ctx context.Context, binary string, env []string, dir, logName string, wait time.Duration) (startRun, error) {
	logFile, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return startRun{}, err
	}
	defer logFile.Close()
	var addr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HTTP_ADDR="); ok {
			addr = v
		}
	}
	cmd := exec.Command(binary, "run")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return startRun{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(wait)
	for {
		select {
		case err := <-exited:
			exited <- err
			return startRun{}, fmt.Errorf("%s run exited before ready (%v): see %s", binary, err, logFile.Name())
		case <-ctx.Done():
			return startRun{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return startRun{}, fmt.Errorf("%s run not ready after %s: see %s", binary, wait, logFile.Name())
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			r := startRun{ReadyS: time.Since(began).Seconds()}
			r.PeakRSSMB, r.RSSMB = pidStatusMB(cmd.Process.Pid, "VmHWM"), pidStatusMB(cmd.Process.Pid, "VmRSS")
			return r, awaitReadAll(ctx, &r, cmd.Process.Pid, logFile.Name(), began, deadline, exited)
		}
	}
}

// awaitReadAll waits for the run's log to say every active game was read
// in the background, then 5 s more, and records the peak memory then.
func awaitReadAll(ctx context.Context, r *startRun, pid int, logName string, began, deadline time.Time, exited chan error) error {
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("run exited before reading every game (%v): see %s", err, logName)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if b, err := os.ReadFile(logName); err == nil && strings.Contains(string(b), readAllLine) {
			r.ReadAllS = time.Since(began).Seconds()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
			}
			r.PeakAfterReadMB = pidStatusMB(pid, "VmHWM")
			return nil
		}
	}
	return nil // not read within the wait: reported as 0
}

// pidStatusMB reads a kB field of /proc/PID/status in MB (0 if absent).
func pidStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return statusFieldMB(string(b), field)
}
