package redisproj

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// sim writes a valid stream the way the command handler would: it folds
// each game to stamp every click with its value, band, time claimed and
// MMR from the events package, and numbers the messages like JetStream.
// It can also write what a broken or hostile publisher would.
type sim struct {
	tb    testing.TB
	seq   uint64
	recs  []events.Recorded
	games map[events.GameID]*events.Game
}

func newSim(tb testing.TB) *sim {
	return &sim{tb: tb, games: map[events.GameID]*events.Game{}}
}

// add appends a message after a round trip through the codec, as the
// projector would receive it.
func (s *sim) add(subject string, e events.Event) events.Recorded {
	s.tb.Helper()
	data, err := events.Encode(e)
	if err != nil {
		s.tb.Fatalf("encode %T: %v", e, err)
	}
	return s.addRaw(subject, data)
}

func (s *sim) addRaw(subject string, data []byte) events.Recorded {
	s.seq++
	e, err := events.Decode(data)
	r := events.Recorded{Seq: s.seq, Subject: subject, Event: e, Err: err, Stored: time.Unix(0, 0), Data: data}
	s.recs = append(s.recs, r)
	return r
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func (s *sim) start(id events.GameID, guild, channel string, dur, cd time.Duration, at time.Time) {
	s.tb.Helper()
	e := events.GameStarted{Game: id, Guild: guild, ButtonChannel: channel, ChatChannel: channel,
		DurationMS: dur.Milliseconds(), CooldownMS: cd.Milliseconds(), StartedBy: "900", StarterName: "Admin", AtMS: ms(at)}
	s.add(events.ChannelSubject(channel), events.ChannelClaimed{Channel: channel, Guild: guild, Game: id, AtMS: ms(at)})
	r := s.add(events.GameSubject(id), e)
	g := &events.Game{}
	if err := g.Apply(r.Seq, e); err != nil {
		s.tb.Fatal(err)
	}
	s.games[id] = g
}

// clickAt records a click with the given time left on the clock.
func (s *sim) clickLeft(id events.GameID, user, name string, left time.Duration) events.ButtonClicked {
	g := s.games[id]
	return s.click(id, user, name, time.UnixMilli(g.DeadlineMS()-left.Milliseconds()))
}

// click records a click at a time before the game's deadline.
func (s *sim) click(id events.GameID, user, name string, at time.Time) events.ButtonClicked {
	s.tb.Helper()
	g := s.games[id]
	t := g.Now(ms(at))
	value := events.Remaining(g.DeadlineMS(), t)
	if value <= 0 {
		s.tb.Fatalf("click on game %d at %v: past the deadline", id, at)
	}
	d := g.DurationMS()
	e := events.ButtonClicked{Game: id, Guild: g.Started.Guild, Number: g.Clicks + 1, User: user, UserName: name,
		Interaction: "i" + user + "-" + at.Format("150405.000"), AtMS: t, ValueMS: value,
		Band: int(events.BandOf(value, d)), ClaimedMS: events.Claimed(value, d), MMRMilli: events.MMRMilli(value, d)}
	r := s.add(events.GameSubject(id), e)
	if err := g.Apply(r.Seq, e); err != nil {
		s.tb.Fatal(err)
	}
	return e
}

func (s *sim) end(id events.GameID, reason events.EndReason, at time.Time, by, why string) {
	s.tb.Helper()
	g := s.games[id]
	if reason == events.EndExpired {
		at = time.UnixMilli(g.DeadlineMS())
	}
	e := events.GameEnded{Game: id, Reason: reason, AtMS: ms(at), By: by, Why: why}
	r := s.add(events.GameSubject(id), e)
	if err := g.Apply(r.Seq, e); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *sim) message(id events.GameID, channel, msg string, at time.Time) {
	s.tb.Helper()
	e := events.GameMessagePosted{Game: id, Channel: channel, MessageID: msg, AtMS: ms(at)}
	r := s.add(events.GameSubject(id), e)
	if err := s.games[id].Apply(r.Seq, e); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *sim) icon(guild, icon string, at time.Time) {
	s.add(events.GuildSubject(guild), events.GuildIconSet{Guild: guild, Icon: icon, By: "900", AtMS: ms(at)})
}

func (s *sim) ban(guild, user, reason string, at time.Time) {
	s.add(events.GuildSubject(guild), events.PlayerBanned{Guild: guild, User: user, By: "900", Reason: reason, AtMS: ms(at)})
}

func (s *sim) unban(guild, user string, at time.Time) {
	s.add(events.GuildSubject(guild), events.PlayerUnbanned{Guild: guild, User: user, By: "900", AtMS: ms(at)})
}

// randomStream writes a stream of about clicks clicks over games games of
// three guilds, with players who come back, clicks near band edges,
// games that end or are aborted, messages, icons and bans, spread over a
// few months.
func randomStream(tb testing.TB, seed uint64, games, players, clicks int) *sim {
	rng := rand.New(rand.NewPCG(seed, 42))
	s := newSim(tb)
	t0 := time.Date(2025, 12, 30, 12, 0, 0, 0, time.UTC)
	durations := []time.Duration{time.Hour, 6 * time.Hour, 12 * time.Hour, 90 * time.Minute}
	guilds := []string{"100", "200", "300"}
	var live []events.GameID
	next := events.GameID(1)
	startGame := func(at time.Time) {
		id := next
		next++
		guild := guilds[rng.IntN(len(guilds))]
		s.start(id, guild, strconv.Itoa(5000+int(id)), durations[rng.IntN(len(durations))], time.Duration(rng.IntN(4))*time.Hour, at)
		live = append(live, id)
	}
	for range games {
		startGame(t0.Add(time.Duration(rng.IntN(3600)) * time.Second))
	}
	for i := 0; i < clicks; i++ {
		if len(live) == 0 {
			startGame(time.UnixMilli(s.seqTime()))
		}
		k := rng.IntN(len(live))
		id := live[k]
		g := s.games[id]
		d := g.DurationMS()
		var left int64
		switch rng.IntN(4) {
		case 0: // near an edge
			edge := (int64(1+rng.IntN(5))*d + 5) / 6
			left = edge + int64(rng.IntN(600001)) - 300000
		default:
			left = 1 + rng.Int64N(d)
		}
		left = min(max(left, 1), d)
		user := strconv.Itoa(1000 + rng.IntN(players))
		name := "P" + user
		if rng.IntN(10) == 0 {
			name = ""
		}
		s.clickLeft(id, user, name, time.Duration(left)*time.Millisecond)
		switch r := rng.IntN(1000); {
		case r < 3:
			s.end(id, events.EndExpired, time.Time{}, "", "")
			live = append(live[:k], live[k+1:]...)
		case r < 5:
			s.end(id, events.EndAborted, time.UnixMilli(g.LastEventMS), "900", "random abort")
			live = append(live[:k], live[k+1:]...)
		case r < 10:
			s.message(id, strconv.Itoa(5000+int(id)), strconv.Itoa(8000+i), time.UnixMilli(g.LastEventMS))
		case r < 13:
			s.icon(guilds[rng.IntN(len(guilds))], events.Icons[rng.IntN(len(events.Icons))], time.UnixMilli(g.LastEventMS))
		case r < 16:
			s.ban(guilds[rng.IntN(len(guilds))], strconv.Itoa(1000+rng.IntN(players)), "random", time.UnixMilli(g.LastEventMS))
		case r < 18:
			s.unban(guilds[rng.IntN(len(guilds))], strconv.Itoa(1000+rng.IntN(players)), time.UnixMilli(g.LastEventMS))
		}
	}
	return s
}

// seqTime is the latest event time of any game.
func (s *sim) seqTime() int64 {
	var t int64
	for _, g := range s.games {
		t = max(t, g.LastEventMS)
	}
	return t
}
