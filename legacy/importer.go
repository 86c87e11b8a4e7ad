package legacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/events/natsstore"
)

// Run configures one run of an import.
type Run struct {
	Options
	// DryRun reads and plans everything and reports it, without touching
	// the stream.
	DryRun bool
	// Progress receives plain progress lines (nil: none); Every is their
	// interval (default 1 s).
	Progress io.Writer
	Every    time.Duration
	// Now is the clock deciding whether a game without end_time is still
	// live; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// maxRestarts bounds how often an import re-reads the stream after
// another writer moved it.
const maxRestarts = 5

// Import reads the original's database db and appends what the stream
// does not hold yet to store (nil only for a dry run). It returns the
// report also when it fails half-way: whatever it appended stays, and a
// second run continues from there.
func Import(ctx context.Context, db *sql.DB, store *natsstore.Store, r Run) (*Report, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Every <= 0 {
		r.Every = time.Second
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	started := time.Now()
	snap, err := read(ctx, db)
	if err != nil {
		return nil, err
	}
	if r.Source == "" {
		r.Source = "legacy:" + snap.Database
	}
	if len(r.Source) > events.MaxSourceLen {
		return nil, fmt.Errorf("source name longer than %d bytes", events.MaxSourceLen)
	}
	p, err := buildPlan(snap, r.Options, r.Now())
	if err != nil {
		return nil, err
	}
	rep := &p.report
	rep.Source, rep.DryRun = r.Source, r.DryRun
	r.Log.Info("legacy source read", "source", r.Source, "games", rep.Games, "clicks", rep.Clicks,
		"took", time.Since(started).Round(time.Millisecond))
	r.progressf("import-legacy: read %s: %d games, %d clicks, %d anomalies in %s\n", snap.Database, rep.Games, rep.Clicks,
		anomalyTotal(&rep.Anomalies), time.Since(started).Round(time.Millisecond))
	if r.DryRun {
		for _, g := range p.games {
			r.progressf("%s\n", g.describe())
		}
		rep.Appended = p.events()
		return rep, nil
	}
	if store == nil {
		return rep, errors.New("import: no event store")
	}
	for attempt := 0; ; attempt++ {
		err = runOnce(ctx, store, p, r)
		if !errors.Is(err, errStreamMoved) || attempt >= maxRestarts {
			return rep, err
		}
		r.Log.Warn("stream changed during the import, reading it again", "err", err)
	}
}

// describe says what a game's import holds, for the dry run.
func (g *gamePlan) describe() string {
	st := g.items[0].event.(events.GameStarted)
	state := "live, deadline " + fmtTime(time.UnixMilli(g.deadline))
	if last, ok := g.items[len(g.items)-1].event.(events.GameEnded); ok {
		state = string(last.Reason) + " " + fmtTime(time.UnixMilli(last.AtMS))
	}
	return fmt.Sprintf("game #%d from %s: guild %s, channel %s, started %s, %d clicks, %s",
		g.id, g.label, st.Guild, st.ButtonChannel, fmtTime(time.UnixMilli(st.AtMS)), g.clicks, state)
}

func (r *Run) progressf(format string, args ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format, args...)
	}
}

// position is where a game's import stands in the stream.
type position struct {
	from  int  // items already stored
	taken bool // continued here after the import: nothing more is imported
}

// runOnce reads where the stream stands and appends the rest.
func runOnce(ctx context.Context, store *natsstore.Store, p *plan, r Run) error {
	rep := &p.report
	// The stream's last message first: the first append is conditional on
	// it, so nothing read below can have changed once that append succeeds.
	lastSeq, lastID, err := store.LastMsgID(ctx)
	if err != nil {
		return fmt.Errorf("read the last message of stream %s: %w", store.Name(), err)
	}

	guildTodo, guildThere, err := guildPositions(ctx, store, p)
	if err != nil {
		return err
	}
	pos := make([]position, len(p.games))
	var collisions []string
	there := guildThere
	for i, g := range p.games {
		pos[i], err = gamePosition(ctx, store, g, rep)
		if errors.Is(err, errCollision) {
			collisions = append(collisions, err.Error())
			continue
		}
		if err != nil {
			return err
		}
		there += pos[i].from
	}
	if len(collisions) > 0 {
		return fmt.Errorf("import: %s; nothing was written (number the imported games elsewhere with --game-offset)",
			strings.Join(collisions, "; "))
	}
	claims := make([]*item, len(p.games))
	for i, g := range p.games {
		if g.claim == nil || pos[i].taken {
			continue
		}
		if c, err := claimNeeded(ctx, store, g, rep); err != nil {
			return err
		} else if c {
			claims[i] = g.claim
		} else {
			there++
		}
	}
	rep.AlreadyThere = there

	total := len(guildTodo)
	for i, g := range p.games {
		if !pos[i].taken {
			total += len(g.items) - pos[i].from
		}
		if claims[i] != nil {
			total++
		}
	}
	r.Log.Info("legacy import resuming", "already_in_stream", there, "to_append", total)
	r.progressf("import-legacy: %d events to append, %d already in the stream\n", total, there)
	c, err := newChain(store.JetStream().Conn(), store.Name(), lastSeq, lastID)
	if err != nil {
		return err
	}
	sent, startAt, lastReport := 0, time.Now(), time.Now()
	progress := func(g *gamePlan) {
		if time.Since(lastReport) < r.Every {
			return
		}
		lastReport = time.Now()
		rate := float64(sent) / time.Since(startAt).Seconds()
		r.progressf("import-legacy: %d/%d events sent, at game #%d, %.0f events/s\n", sent, total, g.id, rate)
	}
	send := func(it item) error {
		sent++
		return c.append(ctx, it)
	}
	defer func() { rep.Appended += c.stored }()
	for _, it := range guildTodo {
		if err := send(it); err != nil {
			return err
		}
	}
	for i, g := range p.games {
		if pos[i].taken {
			continue
		}
		for _, it := range g.items[pos[i].from:] {
			if err := send(it); err != nil {
				return err
			}
			if sent%1024 == 0 {
				progress(g)
			}
		}
		if claims[i] != nil {
			if err := send(*claims[i]); err != nil {
				return err
			}
		}
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	if total > 0 {
		el := time.Since(startAt)
		r.progressf("import-legacy: %d events appended in %s (%.0f events/s)\n", c.stored, el.Round(time.Millisecond),
			float64(c.stored)/el.Seconds())
	}
	if c.dups > 0 {
		r.Log.Warn("events were in the stream already (another import ran at the same time?)", "duplicates", c.dups)
	}
	return nil
}

var errCollision = errors.New("collision")

// gamePosition reads how much of a game the stream holds: its first and
// last message on the game's subject.
func gamePosition(ctx context.Context, store *natsstore.Store, g *gamePlan, rep *Report) (position, error) {
	subject := events.GameSubject(g.id)
	last, err := store.Last(ctx, subject)
	if errors.Is(err, events.ErrNotFound) {
		return position{}, nil
	}
	if err != nil {
		return position{}, err
	}
	first, err := store.First(ctx, subject)
	if err != nil {
		return position{}, err
	}
	st, ok := first.Event.(events.GameStarted)
	if !ok || st.Imported != g.startRow {
		what := "a game of this service"
		if ok && !st.Imported.IsZero() {
			what = fmt.Sprintf("a game imported from %s %s %d", st.Imported.Source, st.Imported.Table, st.Imported.RowID)
		}
		return position{}, fmt.Errorf("%w: game #%d (%s) is already %s", errCollision, g.id, g.label, what)
	}
	prov, imported := events.ImportedFrom(last.Event)
	if !imported || prov.Source != g.startRow.Source {
		// Continued here (native clicks, or the timekeeper's end):
		// the import of this game is complete.
		if rest := g.clicks - countImported(ctx, store, g); rest > 0 {
			rep.Anomalies.add(KindTakenOver, "game #%d continued here; %d newer clicks in the source are not imported", g.id, rest)
		}
		return position{from: len(g.items), taken: true}, nil
	}
	switch e := last.Event.(type) {
	case events.GameStarted:
		return position{from: 1}, nil
	case events.ButtonClicked:
		k := int(e.Number)
		if k > g.clicks {
			return position{}, fmt.Errorf("game #%d: the stream holds %d imported clicks, the source only %d: the source changed", g.id, k, g.clicks)
		}
		want := g.items[k].event.(events.ButtonClicked).Imported
		if want != e.Imported {
			return position{}, fmt.Errorf("game #%d: click %d in the stream is %s row %d, the source's is row %d: the source changed",
				g.id, k, e.Imported.Table, e.Imported.RowID, want.RowID)
		}
		return position{from: 1 + k}, nil
	case events.GameEnded:
		if k := len(g.items); k > 0 {
			if _, ended := g.items[k-1].event.(events.GameEnded); !ended {
				rep.Anomalies.add(KindTakenOver, "game #%d ended in the stream but is live in the source", g.id)
			}
		}
		return position{from: len(g.items), taken: true}, nil
	}
	return position{}, fmt.Errorf("game #%d: unexpected %s at the end of %s", g.id, last.Event.EventType(), subject)
}

// countImported is the number of imported clicks of a game that was
// continued here: the last imported click's number.
func countImported(ctx context.Context, store *natsstore.Store, g *gamePlan) int {
	recs, err := store.Load(ctx, events.GameSubject(g.id), 0)
	if err != nil {
		return g.clicks
	}
	n := 0
	for _, rec := range recs {
		if c, ok := rec.Event.(events.ButtonClicked); ok && !c.Imported.IsZero() {
			n = int(c.Number)
		}
	}
	return n
}

// claimNeeded reports whether a live game's channel claim is still to be
// appended: not if the channel's last claim already names the game, nor
// if another active game holds the channel (reported).
func claimNeeded(ctx context.Context, store *natsstore.Store, g *gamePlan, rep *Report) (bool, error) {
	last, err := store.Last(ctx, events.ChannelSubject(g.channel))
	if errors.Is(err, events.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	claim, ok := last.Event.(events.ChannelClaimed)
	if !ok || claim.Game == g.id {
		return !ok, nil
	}
	other, err := store.Last(ctx, events.GameSubject(claim.Game))
	if errors.Is(err, events.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if _, ended := other.Event.(events.GameEnded); ended {
		return true, nil
	}
	rep.Anomalies.add(KindChannelTaken, "game #%d: channel %s is held by game #%d here; not claimed", g.id, g.channel, claim.Game)
	return false, nil
}

// guildPositions returns the guild events not in the stream yet and how
// many are. An icon is not imported over one chosen here.
func guildPositions(ctx context.Context, store *natsstore.Store, p *plan) ([]item, int, error) {
	type state struct {
		imported   map[events.Imported]bool
		nativeIcon bool
	}
	states := map[string]*state{}
	var todo []item
	there := 0
	for _, it := range p.guilds {
		st := states[it.subject]
		if st == nil {
			recs, err := store.Load(ctx, it.subject, 0)
			if err != nil {
				return nil, 0, err
			}
			st = &state{imported: map[events.Imported]bool{}}
			for _, rec := range recs {
				if prov, ok := events.ImportedFrom(rec.Event); ok {
					st.imported[prov] = true
				} else if _, icon := rec.Event.(events.GuildIconSet); icon {
					st.nativeIcon = true
				}
			}
			states[it.subject] = st
		}
		prov, _ := events.ImportedFrom(it.event)
		switch {
		case st.imported[prov]:
			there++
		case it.event.EventType() == events.TypeGuildIconSet && st.nativeIcon:
			p.report.Anomalies.add(KindIconAlreadySet, "guild %s chose its icon here already; the original's is not imported",
				it.event.(events.GuildIconSet).Guild)
		default:
			todo = append(todo, it)
		}
	}
	return todo, there, nil
}

func anomalyTotal(a *Anomalies) int {
	n := 0
	for _, c := range a.Count {
		n += c
	}
	return n
}
