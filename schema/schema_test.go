package schema

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{"empty", "", nil},
		{"comments only", "-- nothing\n# nothing ; here\n/* nor ; here */\n", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in quotes", "SELECT 'a;b', \"c;d\", `e;f`; SELECT 2", []string{"SELECT 'a;b', \"c;d\", `e;f`", "SELECT 2"}},
		{"escaped and doubled quotes", `SELECT 'it\'s;', 'x'';y'; SELECT 3`, []string{`SELECT 'it\'s;', 'x'';y'`, "SELECT 3"}},
		{"apostrophe in a comment", "-- the game's row; one\nCREATE TABLE t (a INT); -- it's done\n",
			[]string{"-- the game's row; one\nCREATE TABLE t (a INT)"}},
		{"block comment", "/* a;\n b */ SELECT 1; /* c */", []string{"/* a;\n b */ SELECT 1"}},
		{"double dash without space is code", "SELECT 1--1;SELECT 2", []string{"SELECT 1--1", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, split(tt.script)); diff != "" {
				t.Errorf("split(%q) (-want +got):\n%s", tt.script, diff)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Fatalf("first migration = %v, want 0001_init.sql", ms)
	}
	for _, m := range ms {
		if len(split(m.sql)) == 0 {
			t.Errorf("%s has no statement", m.name)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []string
	}{
		{"bad name", []string{"0001_init.sql", "2_more.sql"}},
		{"gap", []string{"0001_init.sql", "0003_more.sql"}},
		{"duplicate number", []string{"0001_init.sql", "0001_again.sql"}},
		{"not starting at one", []string{"0002_init.sql"}},
		{"not sql", []string{"0001_init.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			if ms, err := load(fsys, "m"); err == nil {
				t.Errorf("load(%v) = %v, want an error", tt.files, ms)
			}
		})
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestMigrateAppliesOnce(t *testing.T) {
	db := open(t, mysqltest.DSN(t))
	ctx := context.Background()
	applied, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0001_init.sql"}, applied); diff != "" {
		t.Errorf("first Migrate applied (-want +got):\n%s", diff)
	}
	want := []string{"clicks", "game_players", "games", "guild_bans", "guilds", "players", "projector_checkpoints", "schema_migrations"}
	if diff := cmp.Diff(want, tables(t, db)); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
	applied, err = Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
}

func TestMigrateAppliesOnlyNewOnes(t *testing.T) {
	db := open(t, mysqltest.DSN(t))
	ctx := context.Background()
	first := []migration{{name: "0001_a.sql", number: 1, sql: "CREATE TABLE a (x INT);", checksum: "1"}}
	if _, err := migrate(ctx, db, first); err != nil {
		t.Fatal(err)
	}
	second := append(slices.Clone(first), migration{name: "0002_b.sql", number: 2,
		sql: "CREATE TABLE b (x INT);\nINSERT INTO a VALUES (1), (2);", checksum: "2"})
	applied, err := migrate(ctx, db, second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0002_b.sql"}, applied); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM a").Scan(&n); err != nil || n != 2 {
		t.Errorf("rows in a = %d, %v; want 2 (0002 ran once)", n, err)
	}
}

func TestMigrateRefusesAChangedMigration(t *testing.T) {
	db := open(t, mysqltest.DSN(t))
	ctx := context.Background()
	m := []migration{{name: "0001_a.sql", number: 1, sql: "CREATE TABLE a (x INT);", checksum: "1"}}
	if _, err := migrate(ctx, db, m); err != nil {
		t.Fatal(err)
	}
	m[0].checksum = "edited"
	if _, err := migrate(ctx, db, m); !errors.Is(err, ErrChanged) {
		t.Errorf("Migrate after an edit: err = %v, want ErrChanged", err)
	}
}

func TestMigrateFailureIsNotRecorded(t *testing.T) {
	db := open(t, mysqltest.DSN(t))
	ctx := context.Background()
	bad := []migration{{name: "0001_bad.sql", number: 1, sql: "CREATE TABLE a (x INT); SELEC nonsense;", checksum: "1"}}
	if _, err := migrate(ctx, db, bad); err == nil {
		t.Fatal("Migrate of a broken script succeeded")
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + Table).Scan(&n); err != nil || n != 0 {
		t.Errorf("recorded migrations = %d, %v; want 0", n, err)
	}
	fixed := []migration{{name: "0001_bad.sql", number: 1, sql: "CREATE TABLE IF NOT EXISTS a (x INT);", checksum: "2"}}
	if applied, err := migrate(ctx, db, fixed); err != nil || len(applied) != 1 {
		t.Errorf("Migrate after the fix = %v, %v; want it applied", applied, err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	dsn := mysqltest.DSN(t)
	ctx := context.Background()
	const n = 6
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
	)
	for range n {
		db := open(t, dsn) // one pool each, like separate processes
		wg.Go(func() {
			got, err := Migrate(ctx, db)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			applied = append(applied, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"0001_init.sql"}, applied); diff != "" {
		t.Errorf("migrations applied by %d concurrent calls (-want +got):\n%s", n, diff)
	}
	var rows int
	if err := open(t, dsn).QueryRow("SELECT COUNT(*) FROM " + Table).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%s rows = %d, %v; want 1", Table, rows, err)
	}
}

func TestMigrateNeedsADatabase(t *testing.T) {
	dsn := mysqltest.DSN(t)
	cfg, _ := mysql.ParseDSN(dsn)
	cfg.DBName = ""
	if _, err := Migrate(context.Background(), open(t, cfg.FormatDSN())); err == nil {
		t.Error("Migrate without a database succeeded")
	}
}
