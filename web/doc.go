// Package web serves The Button's public, read-only web pages (GAME-RULES
// §10): the live games, whose countdowns tick in the browser and change on
// each click through server-sent events; a page per game with its timer
// image, leaderboards, recent clicks, clicks per hour and colours; the
// global lowest and recent clicks; a player card (the page /card links
// to); and the same data as JSON under /api/.
//
// It owns the routes, the page templates, the embedded CSS and JavaScript
// (nothing is loaded from elsewhere) and the one poller per process that
// feeds every live page. It reads only the views, through the read
// model's Reader (readmodel.Reader, which *redisproj.Reader implements),
// and draws timer cards with imaging.
//
// It must not depend on go-redis, nats.go, database/sql, commands,
// discordbot, the projector loop or its sinks, even indirectly (a test
// runs go list -deps); only its tests may.
package web
