// Package mysqltest gives tests MySQL databases: DSN makes a fresh,
// uniquely named database on the shared server and drops it afterwards;
// StartServer runs a private MariaDB server on a free port that a test may
// stop and start again (outage tests) without touching the shared one.
//
// Without a reachable server (or, for StartServer, without the MariaDB
// binaries) tests are skipped with a loud message, except under CI=true,
// where they fail. It imports the MySQL driver and the standard library
// only; never mysqlproj or schema, whose tests use it.
package mysqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/internal/freeport"
)

// DefaultDSN is the shared server used when MYSQL_TEST_DSN is not set.
const DefaultDSN = "root@tcp(127.0.0.1:3306)/"

// unavailable skips the test, or fails it under CI=true.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("mysqltest: %s (CI=true: a real MySQL is required)", msg)
	}
	tb.Skipf("SKIPPED, NO MYSQL: %s (set MYSQL_TEST_DSN; under CI=true this fails)", msg)
}

// DSN creates a database with a unique name on the server of MYSQL_TEST_DSN
// (default DefaultDSN), drops it when the test ends, and returns a
// go-sql-driver DSN naming it. Call it from the test's goroutine.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("MYSQL_TEST_DSN")
	if base == "" {
		base = DefaultDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("mysqltest: MYSQL_TEST_DSN: %v", err)
	}
	cfg.DBName = ""
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	db, err := openConfig(cfg)
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		unavailable(tb, "MySQL at %s unreachable: %v", cfg.Addr, err)
	}
	name := DatabaseName(tb)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("mysqltest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		db, err := openConfig(cfg)
		if err != nil {
			tb.Errorf("mysqltest: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			tb.Errorf("mysqltest: drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// DatabaseName returns a fresh database name derived from the test's name:
// letters, digits and underscores, at most 64 characters, with a random
// suffix.
func DatabaseName(tb testing.TB) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

func openConfig(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// server is a private MariaDB server started by StartServer.
type server struct {
	tb                  testing.TB
	bin, dir, data, tmp string
	socketDir, logFile  string
	port                int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartServer starts a private MariaDB server (mariadbd) on a free
// loopback port with its own temporary data folder, and returns a DSN for
// its database "thebutton" (root, no password) and two functions: stop
// shuts the server down (clients get connection errors until start), start
// runs it again on the same port with the same data. Both wait until the
// server is down or accepting connections and may be called from any
// goroutine; they report failures with tb.Errorf. The server is stopped
// when the test ends. StartServer takes a couple of seconds (it creates the
// data folder with mariadb-install-db); call it from the test's goroutine.
func StartServer(tb testing.TB) (dsn string, stop func(), start func()) {
	tb.Helper()
	bin := findBinary("mariadbd", "mysqld")
	install := findBinary("mariadb-install-db", "mysql_install_db")
	if bin == "" || install == "" {
		unavailable(tb, "mariadbd or mariadb-install-db not found")
	}
	s := &server{tb: tb, bin: bin, dir: tb.TempDir()}
	s.data = filepath.Join(s.dir, "data")
	s.tmp = filepath.Join(s.dir, "tmp") // not /tmp: concurrent servers clash there
	s.logFile = filepath.Join(s.dir, "mariadbd.log")
	if err := os.Mkdir(s.tmp, 0o755); err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	// A unix socket path must stay under ~100 bytes; test temp dirs may not.
	sock, err := os.MkdirTemp("", "mdb")
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	s.socketDir = sock
	tb.Cleanup(func() { _ = os.RemoveAll(sock) })

	args := []string{"--no-defaults", "--datadir=" + s.data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve", "--tmpdir=" + s.tmp} // the last is passed on to mariadbd
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("mysqltest: %s: %v\n%s", install, err, tail(out, 2000))
	}
	s.port, err = freeport.Loopback()
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("mysqltest: %v", err)
		}
	})
	if err := s.start(); err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	cfg.Timeout = 2 * time.Second
	db, err := openConfig(cfg)
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS thebutton CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("mysqltest: create database: %v", err)
	}
	cfg.DBName = "thebutton"
	cfg.Timeout = 0
	stop = func() {
		if err := s.stop(); err != nil {
			tb.Errorf("mysqltest: %v", err)
		}
	}
	start = func() {
		if err := s.start(); err != nil {
			tb.Errorf("mysqltest: %v", err)
		}
	}
	return cfg.FormatDSN(), stop, start
}

func findBinary(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}

// start runs the server unless it is running, and waits until it accepts
// connections.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + s.data,
		"--tmpdir=" + s.tmp,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.socketDir, "s.sock"),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--skip-grant-tables",
		"--skip-name-resolve",
		"--skip-log-bin",
		"--innodb-buffer-pool-size=64M",
		"--innodb-buffer-pool-dump-at-shutdown=0",
		"--innodb-buffer-pool-load-at-startup=0",
		"--max-connections=200",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // ^C in the terminal goes to the test only
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { // owned by the server: stop waits for done
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("mariadbd on port %d exited while starting:\n%s", s.port, s.logTail())
		default:
		}
		if s.ping() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd on port %d not ready after 60s:\n%s", s.port, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) ping() error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net = "root", "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	cfg.Timeout = time.Second
	db, err := openConfig(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// stop shuts the server down (SIGTERM, then SIGKILL after 30 s) and waits
// for it to exit.
func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
	return errors.New("mariadbd ignored SIGTERM for 30s and was killed")
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logFile)
	return tail(b, 3000)
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
