// Package schema owns the MySQL schema of The Button: the numbered
// migrations embedded from migrations/*.sql and Migrate, which applies each
// of them once.
//
// It imports the standard library only, never a driver or another package
// of this module: callers hand it an open *sql.DB.
package schema

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var files embed.FS

// Errors callers may branch on.
var (
	// ErrChanged means a migration recorded as applied no longer has the
	// content it was applied with: released migrations are never edited,
	// a change gets a new numbered file.
	ErrChanged = errors.New("schema: applied migration was changed")
	// ErrLocked means another process held the migration lock for longer
	// than LockTimeout.
	ErrLocked = errors.New("schema: migration lock not acquired")
)

// LockTimeout bounds the wait for another process's migrations.
const LockTimeout = 60 * time.Second

// Table is the table recording the applied migrations.
const Table = "schema_migrations"

// migration is one embedded file.
type migration struct {
	name     string // file name, such as "0001_init.sql"
	number   int
	sql      string
	checksum string // hex SHA-256 of the file
}

var namePattern = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// migrations returns the embedded migrations in order. They must be named
// NNNN_words.sql and numbered 1, 2, 3… without gaps.
func migrations() ([]migration, error) {
	return load(files, "migrations")
}

func load(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("schema: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := namePattern.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("schema: %s is not named NNNN_name.sql", e.Name())
		}
		n, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{name: e.Name(), number: n, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].number < ms[j].number })
	for i, m := range ms {
		if m.number != i+1 {
			return nil, fmt.Errorf("schema: %s: expected migration number %04d", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies, in order, every embedded migration the database named
// by db's DSN has not applied yet, and returns the names of those it
// applied (none: the schema was up to date). Each migration runs once: its
// name and checksum go to the schema_migrations table in the migration's
// transaction. MySQL commits DDL implicitly, so a migration that fails
// halfway keeps its completed statements; migrations are written to
// complete when run again (IF NOT EXISTS).
//
// Concurrent calls, in one process or several, are safe: they serialize on
// a named lock (GET_LOCK) of the database, so the first applies and the
// others find nothing left to do. It fails with ErrLocked after waiting
// LockTimeout, and with ErrChanged if an applied migration was edited.
// Migrate blocks; ctx bounds it.
func Migrate(ctx context.Context, db *sql.DB) (applied []string, err error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, db, ms)
}

func migrate(ctx context.Context, db *sql.DB, ms []migration) (applied []string, err error) {
	conn, err := db.Conn(ctx) // GET_LOCK belongs to one session
	if err != nil {
		return nil, fmt.Errorf("schema: connect: %w", err)
	}
	defer conn.Close()

	var database sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		return nil, fmt.Errorf("schema: current database: %w", err)
	}
	if !database.Valid || database.String == "" {
		return nil, errors.New("schema: the DSN names no database")
	}
	// Lock names are limited to 64 characters; a database name may be 64
	// on its own.
	const lockName = "CONCAT('thebutton.schema.', LEFT(SHA1(DATABASE()), 24))"
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", int(LockTimeout/time.Second)).Scan(&got); err != nil {
		return nil, fmt.Errorf("schema: lock %s: %w", database.String, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("%w: database %s, waited %s", ErrLocked, database.String, LockTimeout)
	}
	defer func() {
		// Released even when ctx is done; closing the session would release
		// it too.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "SELECT RELEASE_LOCK("+lockName+")")
	}()

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+Table+` (
		name       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
		checksum   CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
		applied_at DATETIME(3) NOT NULL,
		PRIMARY KEY (name)
	) ENGINE = InnoDB`); err != nil {
		return nil, fmt.Errorf("schema: create %s: %w", Table, err)
	}
	done, err := appliedChecksums(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if sum, ok := done[m.name]; ok {
			if sum != m.checksum {
				return applied, fmt.Errorf("%w: %s in database %s", ErrChanged, m.name, database.String)
			}
			continue
		}
		if err := apply(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

func appliedChecksums(ctx context.Context, conn *sql.Conn) (map[string]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name, checksum FROM "+Table)
	if err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", Table, err)
	}
	defer rows.Close()
	done := make(map[string]string)
	for rows.Next() {
		var name, sum string
		if err := rows.Scan(&name, &sum); err != nil {
			return nil, fmt.Errorf("schema: read %s: %w", Table, err)
		}
		done[name] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", Table, err)
	}
	return done, nil
}

// apply runs one migration and records it, in one transaction as far as
// MySQL allows.
func apply(ctx context.Context, conn *sql.Conn, m migration) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("schema: %s: begin: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for i, stmt := range split(m.sql) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema: %s: statement %d: %w", m.name, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+Table+" (name, checksum, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))",
		m.name, m.checksum); err != nil {
		return fmt.Errorf("schema: %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("schema: %s: commit: %w", m.name, err)
	}
	return nil
}

// split cuts a script into statements at the semicolons that are outside
// quotes and comments, so that no connection needs multiStatements. It
// drops comments-only pieces; it does not understand DELIMITER.
func split(script string) []string {
	var (
		stmts []string
		start int
		code  bool // the current piece has something besides blanks and comments
	)
	flush := func(end int) {
		if code {
			stmts = append(stmts, strings.TrimSpace(script[start:end]))
		}
		start, code = end+1, false
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			code = true
			for i++; i < len(script); i++ {
				if script[i] == '\\' && c != '`' {
					i++
					continue
				}
				if script[i] == c {
					if i+1 < len(script) && script[i+1] == c { // doubled quote
						i++
						continue
					}
					break
				}
			}
		case c == '#' || (c == '-' && i+2 < len(script) && script[i+1] == '-' && isSpace(script[i+2])):
			for i < len(script) && script[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(script) && script[i+1] == '*':
			end := strings.Index(script[i+2:], "*/")
			if end < 0 {
				i = len(script)
			} else {
				i += 2 + end + 1
			}
		case c == ';':
			flush(i)
		case !isSpace(c):
			code = true
		}
	}
	flush(len(script))
	return stmts
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
