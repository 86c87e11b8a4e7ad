package deploy_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// unavailable skips the test, or fails it under CI=true.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a real MySQL is required)", msg)
	}
	t.Skipf("SKIPPED, NO MYSQL: %s (set MYSQL_TEST_DSN; under CI=true this fails)", msg)
}

// mysqlAdmin runs SQL with the mariadb command-line client as an account
// that may create users and grant (the init script's GRANT needs that).
type mysqlAdmin struct {
	client string
	args   []string // connection arguments
	env    []string // MYSQL_PWD
}

func (a mysqlAdmin) run(ctx context.Context, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, a.client, append(append([]string(nil), a.args...), "--batch", "--skip-column-names", "-e", sql)...)
	cmd.Env = append(os.Environ(), a.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// findAdmin returns the first account that answers and holds GRANT OPTION:
// root over the local socket (as the mariadb image's entrypoint runs its
// scripts; works when the test runs as root, as in CI), then the account
// of MYSQL_TEST_DSN over TCP.
func findAdmin(ctx context.Context, t *testing.T, cfg *mysql.Config) mysqlAdmin {
	t.Helper()
	client, err := exec.LookPath("mariadb")
	if err != nil {
		if client, err = exec.LookPath("mysql"); err != nil {
			unavailable(t, "no mariadb or mysql client on PATH")
		}
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Fatalf("MYSQL_TEST_DSN address %q: %v", cfg.Addr, err)
	}
	candidates := []mysqlAdmin{
		{client: client, args: []string{"--protocol=socket", "-uroot"}},
		{client: client, args: []string{"--protocol=tcp", "-h", host, "-P", port, "-u", cfg.User}, env: []string{"MYSQL_PWD=" + cfg.Passwd}},
	}
	var why []string
	for _, a := range candidates {
		grants, err := a.run(ctx, "SHOW GRANTS")
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%v: %v %s", a.args, err, strings.TrimSpace(grants)))
		case !strings.Contains(grants, "WITH GRANT OPTION"):
			why = append(why, fmt.Sprintf("%v: no GRANT OPTION", a.args))
		default:
			return a
		}
	}
	unavailable(t, "no MySQL account that may grant: %s", strings.Join(why, "; "))
	return mysqlAdmin{}
}

// TestMySQLInitScript runs deploy/mysql/initdb/10-cluster-database.sh the
// way the mariadb image's entrypoint does (sourced by bash, with its
// docker_process_sql function running SQL as root) against the local
// server, with a unique user and database, and checks that the user can
// then work in the new database. Running it twice must be harmless.
func TestMySQLInitScript(t *testing.T) {
	base := os.Getenv("MYSQL_TEST_DSN")
	if base == "" {
		base = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("MYSQL_TEST_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := findAdmin(ctx, t, cfg)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("SKIPPED: no bash")
	}

	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "tb_deploy_" + hex.EncodeToString(suffix)
	password := hex.EncodeToString(suffix) + "Pw"
	// The image creates MARIADB_USER@'%' before it runs the scripts.
	if out, err := admin.run(ctx, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, password)); err != nil {
		t.Fatalf("create user: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := admin.run(ctx, "DROP DATABASE IF EXISTS `"+name+"`; DROP USER IF EXISTS '"+name+"'@'%'"); err != nil {
			t.Errorf("cleanup: %v\n%s", err, out)
		}
	})

	script, err := filepath.Abs(filepath.Join(root, "deploy", "mysql", "initdb", "10-cluster-database.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, bash, "-euc",
			`docker_process_sql() { "$CLIENT" $ADMIN_ARGS "$@"; }; . "$SCRIPT"`)
		cmd.Env = append(os.Environ(), admin.env...)
		cmd.Env = append(cmd.Env, "CLIENT="+admin.client, "ADMIN_ARGS="+strings.Join(admin.args, " "),
			"SCRIPT="+script, "MARIADB_USER="+name, "CLUSTER_MYSQL_DATABASE="+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %d of the init script: %v\n%s", run, err, out)
		}
	}

	user := mysql.NewConfig()
	user.Net, user.Addr, user.User, user.Passwd, user.DBName = "tcp", cfg.Addr, name, password, name
	user.Timeout = 3 * time.Second
	conn, err := mysql.NewConnector(user)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE probe (id INT PRIMARY KEY)",
		"INSERT INTO probe VALUES (1)",
		"DROP TABLE probe",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("as %s on the new database: %s: %v", name, q, err)
		}
	}
}
