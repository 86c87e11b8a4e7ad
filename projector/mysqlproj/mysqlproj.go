// Package mysqlproj is the MySQL history projection: it owns the history
// tables of schema/migrations (games, clicks, game_players, players,
// guilds, guild_bans) and their writes, which it applies from the event
// stream in batches, each in one transaction with the projection's
// checkpoint. Its Sink implements projector.Sink and projector.Verifier.
//
// The history records what the fold of the stream (events.Game per game
// subject, events.Guild per guild subject) accepts: an event the fold would
// refuse (a second start, a click out of number order, an end after the
// end, an event on another game's or guild's subject, a time MySQL cannot
// store) only advances the checkpoint, as do undecodable messages and the
// events the history does not use (channel claims).
//
// Times are DATETIME(3) in UTC: every session forces time_zone '+00:00'
// and the driver reads and writes UTC, whatever the server's zone.
//
// It imports events, schema and the MySQL driver; never the projector
// loop, commands, discordbot or Redis.
package mysqlproj

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/thebutton-game/thebutton/schema"
)

// Name is the projection's identity: the sink's Name and the key of its
// checkpoint row.
const Name = "mysql"

// Sink is the MySQL history projection. Its methods are safe for
// concurrent use; concurrent Apply and Reset calls, also from several
// processes, serialize on the checkpoint row.
type Sink struct {
	db       *sql.DB
	log      *slog.Logger
	database string
}

// Open connects to the database named in dsn (a go-sql-driver DSN),
// creating the database if it is missing, forces UTC sessions (time_zone
// '+00:00', loc=UTC, parseTime=true), applies the schema migrations and
// pings. It blocks until done or ctx ends.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, database, err := connect(ctx, dsn, log)
	if err != nil {
		return nil, err
	}
	applied, err := schema.Migrate(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlproj: migrate %s: %w", database, err)
	}
	if len(applied) > 0 {
		log.Info("mysql migrations applied", "database", database, "migrations", applied)
	}
	s := &Sink{db: db, log: log, database: database}
	if err := s.ensureCheckpoint(ctx, s.db); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlproj: ping %s: %w", database, err)
	}
	log.Debug("mysql projection open", "database", database)
	return s, nil
}

// Connect opens the database named in dsn with the projection's session
// settings (UTC, interpolated parameters), creating the database if it is
// missing. It does not migrate: `thebutton migrate` uses it with
// schema.Migrate to report what it applied. The driver's own messages go
// to log (nil: discarded).
func Connect(ctx context.Context, dsn string, log *slog.Logger) (*sql.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, _, err := connect(ctx, dsn, log)
	return db, err
}

// driverLogger hands the driver's messages (such as "closing bad idle
// connection") to slog.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Warn("mysql driver", "detail", fmt.Sprint(v...)) }

func connect(ctx context.Context, dsn string, log *slog.Logger) (*sql.DB, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The driver's DSN errors never quote the DSN, which may hold a
		// password.
		return nil, "", fmt.Errorf("mysqlproj: parse DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, "", errors.New("mysqlproj: the DSN names no database (…/dbname)")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true // one round trip per statement
	if cfg.Params == nil {
		cfg.Params = make(map[string]string)
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Logger = driverLogger{log.With("database", cfg.DBName)}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second // dialling; statements are bounded by ctx
	}
	// A COMMIT is not bounded by ctx (database/sql's Tx.Commit takes none):
	// against a server that stops answering mid-commit, these cut it, so
	// the projector retries and stops instead of waiting forever (seen in
	// TestMySQLHangs under load). Each bounds one network read or write,
	// not a whole statement.
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if err := createDatabase(ctx, cfg, log); err != nil {
		return nil, "", err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("mysqlproj: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("mysqlproj: connect to %s at %s: %w", cfg.DBName, cfg.Addr, err)
	}
	return db, cfg.DBName, nil
}

// createDatabase creates cfg's database unless it exists, connecting
// without it, and says so in the log: a DSN naming the wrong database
// must not go unnoticed.
func createDatabase(ctx context.Context, cfg *mysql.Config, log *slog.Logger) error {
	admin := cfg.Clone()
	admin.DBName = ""
	conn, err := mysql.NewConnector(admin)
	if err != nil {
		return fmt.Errorf("mysqlproj: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", cfg.DBName).Scan(&n)
	if err != nil {
		return fmt.Errorf("mysqlproj: connect to %s: %w", cfg.Addr, err)
	}
	if n > 0 {
		return nil
	}
	quoted := "`" + strings.ReplaceAll(cfg.DBName, "`", "``") + "`"
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoted+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("mysqlproj: create database %s: %w", cfg.DBName, err)
	}
	log.Warn("mysql database was missing: created it", "database", cfg.DBName, "addr", cfg.Addr)
	return nil
}

// execer is what ensureCheckpoint needs of a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Sink) ensureCheckpoint(ctx context.Context, db execer) error {
	_, err := db.ExecContext(ctx, `INSERT INTO projector_checkpoints (name, seq, updated_at)
		VALUES (?, 0, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE name = name`, Name)
	if err != nil {
		return fmt.Errorf("mysqlproj: create checkpoint: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Sink) Close() error { return s.db.Close() }

// DB is the connection pool, for tests and operator tools. Writing
// through it bypasses the checkpoint.
func (s *Sink) DB() *sql.DB { return s.db }

// Name returns "mysql".
func (s *Sink) Name() string { return Name }

// Position returns the last stream sequence applied (0: none).
func (s *Sink) Position(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM projector_checkpoints WHERE name = ?", Name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mysqlproj: read checkpoint: %w", err)
	}
	return seq, nil
}

// dataTables are the tables Reset empties; the checkpoint is set to 0.
var dataTables = []string{"clicks", "game_players", "players", "games", "guilds", "guild_bans"}

// Reset deletes every row of the history and sets the checkpoint to 0, in
// one transaction: an interrupted Reset changes nothing.
func (s *Sink) Reset(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mysqlproj: reset: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := s.lockCheckpoint(ctx, tx); err != nil {
		return fmt.Errorf("mysqlproj: reset: %w", err)
	}
	for _, t := range dataTables {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("mysqlproj: reset %s: %w", t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE projector_checkpoints SET seq = 0, updated_at = UTC_TIMESTAMP(3) WHERE name = ?", Name); err != nil {
		return fmt.Errorf("mysqlproj: reset checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mysqlproj: reset: commit: %w", err)
	}
	s.log.Info("mysql projection reset", "database", s.database)
	return nil
}

// lockCheckpoint reads the checkpoint FOR UPDATE, creating its row if it is
// missing: every writer holds this lock until it commits.
func (s *Sink) lockCheckpoint(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var seq uint64
	const q = "SELECT seq FROM projector_checkpoints WHERE name = ? FOR UPDATE"
	err := tx.QueryRowContext(ctx, q, Name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.ensureCheckpoint(ctx, tx); err != nil {
			return 0, err
		}
		err = tx.QueryRowContext(ctx, q, Name).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("lock checkpoint: %w", err)
	}
	return seq, nil
}
