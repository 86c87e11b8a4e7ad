package mysqlproj_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/projector/mysqlproj"
)

func openSink(t testing.TB, dsn string) *mysqlproj.Sink {
	t.Helper()
	s, err := mysqlproj.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// gen builds consistent event streams by hand: it numbers the messages
// and computes each click's figures from its game's clock.
type gen struct {
	seq   uint64
	msgs  []events.Recorded
	games map[events.GameID]*genGame
}

type genGame struct {
	guild    string
	duration int64
	last     int64 // time of the last click, or the start
	clicks   int64
}

func newGen() *gen { return &gen{games: make(map[events.GameID]*genGame)} }

func (g *gen) add(subject string, e events.Event) events.Recorded {
	g.seq++
	r := events.Recorded{Seq: g.seq, Subject: subject, Event: e, Stored: time.UnixMilli(int64(g.seq))}
	g.msgs = append(g.msgs, r)
	return r
}

// junk adds an undecodable message, as `nats pub` would.
func (g *gen) junk(subject, data string) {
	g.seq++
	_, err := events.Decode([]byte(data))
	g.msgs = append(g.msgs, events.Recorded{Seq: g.seq, Subject: subject, Err: err, Data: []byte(data)})
}

const t0 = int64(1_760_000_000_123) // a time with milliseconds

func (g *gen) start(id events.GameID, guild string, atMS, durationMS int64) {
	g.games[id] = &genGame{guild: guild, duration: durationMS, last: atMS}
	g.add(events.GameSubject(id), events.GameStarted{
		Game: id, Guild: guild, ButtonChannel: fmt.Sprint(9000 + id), ChatChannel: fmt.Sprint(9100 + id),
		DurationMS: durationMS, CooldownMS: 0, StartedBy: "42", StarterName: "Admin", AtMS: atMS,
	})
}

// click records a click atMS by user, which must be before the deadline.
func (g *gen) click(id events.GameID, user, name string, atMS int64) events.ButtonClicked {
	gg := g.games[id]
	value := events.Remaining(gg.last+gg.duration, atMS)
	gg.last = atMS
	gg.clicks++
	c := events.ButtonClicked{
		Game: id, Guild: gg.guild, Number: gg.clicks, User: user, UserName: name,
		Interaction: fmt.Sprintf("i-%d-%d", id, gg.clicks), AtMS: atMS, ValueMS: value,
		Band: int(events.BandOf(value, gg.duration)), ClaimedMS: events.Claimed(value, gg.duration),
		MMRMilli: events.MMRMilli(value, gg.duration),
	}
	g.add(events.GameSubject(id), c)
	return c
}

// clicks adds n clicks to a game, one every stepMS, by users cycling
// through players.
func (g *gen) clicks(id events.GameID, n, players int, stepMS int64) {
	gg := g.games[id]
	for i := range n {
		u := 1000 + (i % players)
		g.click(id, fmt.Sprint(u), fmt.Sprintf("player %d", u), gg.last+stepMS)
	}
}

// dump returns every row of every history table, in key order, as text.
func dump(t testing.TB, db *sql.DB) map[string][]string {
	t.Helper()
	tables := map[string]string{
		"games": "game", "clicks": "seq", "game_players": "game, user", "players": "user",
		"guilds": "guild", "guild_bans": "guild, user", "projector_checkpoints": "name",
	}
	out := make(map[string][]string)
	for table, key := range tables {
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY " + key)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			for i, v := range vals {
				if table == "projector_checkpoints" && cols[i] == "updated_at" {
					continue // wall-clock time of the write
				}
				fmt.Fprintf(&sb, "%s=%s ", cols[i], showRaw(v))
			}
			out[table] = append(out[table], sb.String())
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func showRaw(v sql.RawBytes) string {
	if v == nil {
		return "NULL"
	}
	return string(v)
}

// readStream returns every message of the stream, decoded as the
// projector loop decodes them.
func readStream(t testing.TB, js jetstream.JetStream, stream string) []events.Recorded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	if last == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Recorded
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			e, derr := events.Decode(m.Data())
			out = append(out, events.Recorded{Seq: md.Sequence.Stream, Subject: m.Subject(), Event: e, Err: derr,
				Stored: md.Timestamp, Data: m.Data()})
			if md.Sequence.Stream >= last {
				return out
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

// applyAll applies msgs in batches of size n.
func applyAll(t testing.TB, s *mysqlproj.Sink, msgs []events.Recorded, n int) {
	t.Helper()
	for i := 0; i < len(msgs); i += n {
		if err := s.Apply(context.Background(), msgs[i:min(i+n, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyClean(t testing.TB, s *mysqlproj.Sink, msgs []events.Recorded) {
	t.Helper()
	diffs, err := s.Verify(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("… and %d more", len(diffs)-20))
		}
		t.Errorf("Verify found differences:\n%s", strings.Join(diffs, "\n"))
	}
}
