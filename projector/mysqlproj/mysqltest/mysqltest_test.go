package mysqltest_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func databaseExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestDSNCreatesAndDropsADatabase(t *testing.T) {
	var dsn string
	t.Run("inner", func(t *testing.T) {
		dsn = mysqltest.DSN(t)
		db := open(t, dsn)
		if _, err := db.Exec("CREATE TABLE t (x INT)"); err != nil {
			t.Fatal(err)
		}
	})
	if t.Skipped() || dsn == "" {
		return
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.DBName, "t_testdsncreatesandd") {
		t.Errorf("database name %q does not come from the test's name", cfg.DBName)
	}
	admin := cfg.Clone()
	admin.DBName = ""
	if databaseExists(t, open(t, admin.FormatDSN()), cfg.DBName) {
		t.Errorf("database %s still exists after its test ended", cfg.DBName)
	}
}

func TestDatabaseNamesAreUniqueAndValid(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := mysqltest.DatabaseName(t)
		if seen[n] || len(n) > 64 || strings.ContainsAny(n, "/ -`") {
			t.Fatalf("bad or repeated name %q", n)
		}
		seen[n] = true
	}
}

// TestUnreachableServer runs a test against a closed port in a child
// process: skipped on a laptop, failed under CI=true.
func TestUnreachableServer(t *testing.T) {
	if os.Getenv("MYSQLTEST_CHILD") == "1" {
		mysqltest.DSN(t)
		t.Fatal("DSN returned for an unreachable server")
	}
	tests := []struct {
		name, ci string
		fail     bool
		output   string
	}{
		{"laptop", "", false, "SKIPPED, NO MYSQL"},
		{"CI", "true", true, "CI=true: a real MySQL is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestUnreachableServer$", "-test.v")
			cmd.Env = append(os.Environ(), "MYSQLTEST_CHILD=1", "CI="+tt.ci,
				"MYSQL_TEST_DSN=root@tcp(127.0.0.1:1)/")
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.fail {
				t.Errorf("child failed = %v, want %v:\n%s", failed, tt.fail, out)
			}
			if !strings.Contains(string(out), tt.output) {
				t.Errorf("child output lacks %q:\n%s", tt.output, out)
			}
		})
	}
}

func TestStartServerStopsAndStarts(t *testing.T) {
	dsn, stop, start := mysqltest.StartServer(t)
	db := open(t, dsn)
	db.SetConnMaxIdleTime(time.Millisecond) // fresh connections after a restart
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(cctx); err == nil {
		t.Fatal("ping succeeded while the server was stopped")
	}
	stop() // stopping twice is harmless

	start()
	start() // and so is starting twice
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after restart = %d, %v; want the 1 written before", n, err)
	}
	var port int
	if err := db.QueryRowContext(ctx, "SELECT @@port").Scan(&port); err != nil || port == 3306 {
		t.Errorf("server port = %d, %v; want a private port", port, err)
	}
}
