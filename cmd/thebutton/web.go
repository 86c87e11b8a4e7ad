package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/projector/redisproj"
	"github.com/thebutton-game/thebutton/web"
)

// webShutdownGrace bounds the web server's graceful shutdown: requests in
// flight get this long to finish, then the remaining connections are
// closed.
const webShutdownGrace = 5 * time.Second

// newWeb returns the web pages on the Redis projection written under
// prefix, with mount's routes (such as /metrics, /healthz, /readyz)
// served beside them. baseURL is the pages' public address ("" for
// relative links). Its poller must run: see serveWeb.
func newWeb(rdb redis.UniversalClient, prefix, baseURL string, mount map[string]http.Handler, log *slog.Logger) *web.Server {
	return web.New(redisproj.NewReader(rdb, prefix), web.Options{
		Log:     log,
		BaseURL: baseURL,
		Mount:   mount,
	})
}

// serveWeb runs the pages' live poller and serves the pages on addr until
// ctx ends. It returns at once if addr cannot be listened on; wait blocks
// until both the server and the poller have stopped.
func serveWeb(ctx context.Context, addr string, w *web.Server, log *slog.Logger) (wait func() error, err error) {
	stopWeb, err := startWeb(ctx, addr, w, log)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) }) // returns nil when ctx ends
	return sync.OnceValue(func() error {
		err := stopWeb()
		wg.Wait()
		return err
	}), nil
}

// startWeb serves h on addr with bounded timeouts until ctx ends, then
// shuts down gracefully: it stops accepting, lets requests in flight
// finish within webShutdownGrace and closes what is left. It returns an
// error at once if addr cannot be listened on. wait blocks until the
// server has stopped and returns nil after a clean shutdown; it may be
// called more than once.
//
// Long-lived responses (the live pages' event stream) lift the write
// timeout for themselves and must end when ctx ends: web.Server does so
// when its Run returns.
func startWeb(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (wait func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the web pages on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("web pages listening", "addr", "http://"+ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() {
		select {
		case err := <-served:
			// Serve never returns by itself but on a broken listener.
			done <- fmt.Errorf("serve the web pages: %w", err)
			return
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), webShutdownGrace)
		defer cancel()
		var errs []error
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("web pages: requests still running at the end of the grace period", "grace", webShutdownGrace, "err", err)
			errs = append(errs, fmt.Errorf("shut the web pages down: %w", err), srv.Close())
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve the web pages: %w", err))
		}
		log.Info("web pages stopped")
		done <- errors.Join(errs...)
	}()
	return sync.OnceValue(func() error { return <-done }), nil
}
