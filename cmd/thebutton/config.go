package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// secret is a value that must never reach a log.
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps slog from printing the secret.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// config is every setting of the service. Each command registers the
// groups of flags it needs; cli.Parse (through parseFlags) then reads the
// command line and, for the flags it leaves unset, the environment
// variables named in brackets in each flag's help, and reports every bad
// value at once with the problems check finds.
type config struct {
	natsURL      string
	natsListen   string
	natsSync     string
	dataDir      string
	stream       string
	replicas     int
	redisURL     string
	mysqlDSN     secret
	discordToken secret
	discordGuild string
	httpAddr     string
	logLevel     string
	logFormat    string

	// which groups of flags were registered, so check looks only at those
	hasNATS, hasSinks bool
	// preferRunning makes an operator tool without NATS_URL connect to a
	// service already listening on NATS_LISTEN before it starts an
	// embedded server of its own on the data directory.
	preferRunning bool
}

// registerNATS adds the flags every command that talks to JetStream needs.
func (c *config) registerNATS(fs *flag.FlagSet) {
	c.hasNATS = true
	fs.StringVar(&c.natsURL, "nats-url", "",
		"NATS server URL; empty starts an embedded JetStream server [NATS_URL]")
	fs.StringVar(&c.natsListen, "nats-listen", "127.0.0.1:4333",
		"client address of the embedded NATS server, for the nats CLI [NATS_LISTEN]")
	fs.StringVar(&c.natsSync, "nats-sync", "default",
		"embedded JetStream disk sync: default or always (fsync before every ack), or a duration such as 2m (fsync that often) [NATS_SYNC]")
	fs.StringVar(&c.dataDir, "data-dir", "data",
		"folder for the embedded server's store [DATA_DIR]")
	fs.StringVar(&c.stream, "stream", "BUTTON",
		"JetStream stream name [NATS_STREAM]")
	fs.IntVar(&c.replicas, "replicas", 1,
		"stream replicas (3 on a 3-node cluster) [NATS_REPLICAS]")
	c.registerLog(fs)
}

// registerSinks adds the Redis and MySQL flags.
func (c *config) registerSinks(fs *flag.FlagSet) {
	c.hasSinks = true
	fs.StringVar(&c.redisURL, "redis-url", "redis://127.0.0.1:6379/0",
		"Redis URL [REDIS_URL]")
	c.mysqlDSN = "thebutton:thebutton@tcp(127.0.0.1:3306)/thebutton"
	fs.Func("mysql-dsn", "MySQL DSN, go-sql-driver form (default thebutton:thebutton@tcp(127.0.0.1:3306)/thebutton) [MYSQL_DSN]",
		func(v string) error { c.mysqlDSN = secret(v); return nil })
}

// registerDiscord adds the Discord flags.
func (c *config) registerDiscord(fs *flag.FlagSet) {
	fs.Func("discord-token", "Discord bot token; empty runs without Discord [DISCORD_TOKEN]",
		func(v string) error { c.discordToken = secret(v); return nil })
	fs.StringVar(&c.discordGuild, "discord-guild", "",
		"register slash commands in this guild only (development) [DISCORD_GUILD_ID]")
}

// registerHTTP adds the web and metrics address.
func (c *config) registerHTTP(fs *flag.FlagSet) {
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080",
		"address of the web pages, /metrics and /healthz; empty disables [HTTP_ADDR]")
}

func (c *config) registerLog(fs *flag.FlagSet) {
	fs.StringVar(&c.logLevel, "log-level", "info",
		"debug, info, warn or error [LOG_LEVEL]")
	fs.StringVar(&c.logFormat, "log-format", "text",
		"text or json [LOG_FORMAT]")
}

// check reports every problem of the configuration at once.
func (c *config) check() error {
	var errs []error
	if c.hasNATS {
		errs = append(errs, c.checkNATS()...)
	}
	if c.hasSinks {
		errs = append(errs, c.checkSinks()...)
	}
	if c.httpAddr != "" {
		if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
			errs = append(errs, fmt.Errorf("HTTP_ADDR: %q is not host:port: %w", c.httpAddr, err))
		}
	}
	switch c.logLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.logLevel))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", c.logFormat))
	}
	return errors.Join(errs...)
}

// checkSinks reports what cannot work in REDIS_URL and MYSQL_DSN: a URL
// or DSN the clients cannot parse would otherwise make the service wait
// for a store it can never reach. The DSN is never quoted (it may hold a
// password).
func (c *config) checkSinks() []error {
	var errs []error
	if c.redisURL != "" {
		if err := checkRedisURL(c.redisURL); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg, err := mysql.ParseDSN(string(c.mysqlDSN)); err != nil {
		errs = append(errs, fmt.Errorf("MYSQL_DSN: not a go-sql-driver DSN (user:password@tcp(host:port)/dbname): %w", err))
	} else if cfg.DBName == "" {
		errs = append(errs, errors.New("MYSQL_DSN: names no database (…/dbname)"))
	}
	return errs
}

// natsSchemes are the URL schemes the NATS client dials.
var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

func (c *config) checkNATS() []error {
	var errs []error
	if c.natsURL != "" {
		for _, raw := range strings.Split(c.natsURL, ",") {
			raw = strings.TrimSpace(raw)
			u, err := url.Parse(raw)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("NATS_URL: %w", err))
			case !strings.Contains(raw, "://"):
				// host:port without a scheme: the client adds nats://
			case !natsSchemes[u.Scheme] || u.Host == "":
				errs = append(errs, fmt.Errorf("NATS_URL: %q is not a nats://, tls://, ws:// or wss:// URL", u.Redacted()))
			}
		}
	} else if _, _, err := net.SplitHostPort(c.natsListen); err != nil {
		errs = append(errs, fmt.Errorf("NATS_LISTEN: %w", err))
	}
	if _, _, err := c.syncSetting(); err != nil {
		errs = append(errs, err)
	}
	if c.replicas < 1 || c.replicas > 5 {
		errs = append(errs, fmt.Errorf("NATS_REPLICAS: %d is not between 1 and 5", c.replicas))
	}
	return errs
}

// syncSetting parses NATS_SYNC.
func (c *config) syncSetting() (interval time.Duration, always bool, err error) {
	switch s := strings.TrimSpace(c.natsSync); s {
	case "", "default":
		return 0, false, nil
	case "always":
		return 0, true, nil
	default:
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, false, fmt.Errorf("NATS_SYNC: %q is not default, always or a positive duration", s)
		}
		return d, false, nil
	}
}

// logger builds the one logger of the process.
func (c *config) logger(a *app) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if c.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(a.stderr, opts))
	}
	// go-redis and the MySQL driver log through package-level loggers of
	// their own: route both through this one, so every line has its format.
	libLog.Store(log)
	libLogOnce.Do(func() {
		redis.SetLogger(redisLogger{})
		_ = mysql.SetLogger(mysqlLogger{})
		discordgo.Logger = discordgoLog
	})
	return log
}

// libLog is the logger of the clients' package-level loggers: the last
// one built (the process builds one; tests build many, so it is swapped
// atomically rather than set again in the libraries).
var (
	libLog     atomic.Pointer[slog.Logger]
	libLogOnce sync.Once
)

// discordgoLog hands discordgo's messages (such as a failed gateway
// reconnect) to slog, at their level.
func discordgoLog(level, _ int, format string, a ...any) {
	l := slog.LevelInfo
	switch level {
	case discordgo.LogError:
		l = slog.LevelError
	case discordgo.LogWarning:
		l = slog.LevelWarn
	case discordgo.LogDebug:
		l = slog.LevelDebug
	}
	libLog.Load().Log(context.Background(), l, "discordgo", "component", "discordgo", "detail", fmt.Sprintf(format, a...))
}

// redisLogger hands go-redis's messages (such as "connection pool:
// ...") to slog.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	libLog.Load().WarnContext(ctx, "redis client", "component", "go-redis", "detail", fmt.Sprintf(format, v...))
}

// natsDir is where the embedded server keeps its store.
func (c *config) natsDir() (string, error) {
	dir, err := filepath.Abs(filepath.Join(c.dataDir, "nats"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}
