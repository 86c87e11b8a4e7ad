package redisproj

import (
	"fmt"
	"strconv"

	"github.com/thebutton-game/thebutton/events"
)

// crossFold is the cross-game share of a batch ({btn} keys) folded in Go
// over what was read: the indexes of games, guild settings, the global
// recent and lowest clicks, the monthly boards and the players' games.
type crossFold struct {
	o        ops
	ck       uint64   // the cross-game checkpoint after the fold
	recent   []string // click records, oldest first
	lows     []zMember
	lowLimit zMember
	lowFull  bool
	quests   map[questKey]*questFold
	pg       []any
	pgSeen   map[string]bool
}

// questFold is a monthly board's lines as read, with the batch's clicks
// counted in.
type questFold struct {
	run             *questRun
	recs            map[string]*questRec // the board's lines touched, by user
	claimed, clicks int64                // the month's totals added
}

// foldCrossGame folds the batch's cross-game share above the cross-game
// checkpoint globalCk and returns the script call writing it, nil if
// nothing changes. first is the batch's first sequence.
func (s *Sink) foldCrossGame(p *plan, globalCk, first uint64) (*scriptCall, error) {
	f := &crossFold{ck: globalCk, quests: make(map[questKey]*questFold, len(p.quests))}
	f.lowLimit, f.lowFull = zEdge(p.lowEdge.Val())
	for _, q := range p.quests {
		f.quests[q.key] = &questFold{run: q, recs: make(map[string]*questRec, len(q.users))}
	}
	for i := range p.items {
		it := &p.items[i]
		r := it.r
		if r.Seq <= globalCk || r.Err != nil || r.Event == nil {
			continue
		}
		if it.run >= 0 && !it.out.crossGameDue() || it.run < 0 && !crossGameEvent(r) {
			continue
		}
		ok, err := f.event(it)
		if err != nil {
			return nil, err
		}
		if ok {
			f.ck = r.Seq
		}
	}
	if f.ck == globalCk {
		return nil, nil
	}
	if err := f.writeQuests(p.quests); err != nil {
		return nil, err
	}
	f.o.add("ZADD", sfxPG, 2, f.pg...)
	if len(f.recent) > 0 {
		recent := f.recent[max(0, len(f.recent)-RecentCap):]
		push := make([]any, len(recent))
		for i, rec := range recent {
			push[i] = rec
		}
		f.o.add("LPUSH", sfxRecent, 1, push...)
		f.o.add("LTRIM", sfxRecent, 0, "0", strconv.Itoa(RecentCap-1))
	}
	f.o.addLowest(sfxLow, f.lows)
	args := append([]any{ckString(globalCk), strconv.FormatUint(f.ck, 10), strconv.FormatUint(first, 10)}, f.o...)
	return &scriptCall{script: s.apply, keys: []string{s.k.meta()}, args: args}, nil
}

// event folds one message's cross-game share and reports whether it has
// one (and so moves the cross-game checkpoint).
func (f *crossFold) event(it *item) (bool, error) {
	switch e := it.r.Event.(type) {
	case events.GameStarted:
		id, at := strconv.FormatInt(int64(e.Game), 10), strconv.FormatInt(e.AtMS, 10)
		f.o.add("ZADD", sfxGames, 2, at, id)
		f.o.add("ZADD", sfxGuildGames(e.Guild), 2, at, id)
		f.o.add("ZADD", sfxActive, 2, at, id)
	case events.GameEnded:
		f.o.add("ZREM", sfxActive, 1, strconv.FormatInt(int64(e.Game), 10))
	case events.ButtonClicked:
		return true, f.click(it, e)
	case events.ChannelClaimed:
		f.o.add("HSET", sfxChan, 2, e.Channel, strconv.FormatInt(int64(e.Game), 10))
	case events.GuildIconSet:
		f.o.add("HSET", sfxIcon, 2, e.Guild, e.Icon)
	case events.PlayerBanned:
		f.o.add("HSET", sfxBans(e.Guild), 2, e.User, encodeBan(e))
	case events.PlayerUnbanned:
		f.o.add("HDEL", sfxBans(e.Guild), 1, e.User)
	default:
		return false, nil // a game message, or not a cross-game event
	}
	return true, nil
}

// click folds a click's cross-game share: the recent and lowest clicks,
// its monthly board and, for the player's first click in the game, the
// player's games.
func (f *crossFold) click(it *item, e events.ButtonClicked) error {
	f.recent = append(f.recent, it.rec)
	if below(f.lowLimit, f.lowFull, e.ValueMS, it.rec) {
		f.lows = append(f.lows, zMember{e.ValueMS, it.rec})
	}
	q := f.quests[questKey{e.Guild, monthKey(e.AtMS)}]
	qr, err := q.rec(e.User)
	if err != nil {
		return err
	}
	qr.add(e)
	q.claimed += e.ClaimedMS
	q.clicks++
	if it.newInGame || it.out == appliedBefore {
		m := e.User + ":" + pad(int64(e.Game))
		if f.pgSeen == nil {
			f.pgSeen = map[string]bool{}
		}
		if !f.pgSeen[m] {
			f.pgSeen[m] = true
			f.pg = append(f.pg, "0", m)
		}
	}
	return nil
}

// rec returns a user's line of the board as read, parsed on first use.
func (q *questFold) rec(user string) (*questRec, error) {
	if qr := q.recs[user]; qr != nil {
		return qr, nil
	}
	qr := &questRec{}
	if i := indexOf(q.run.users, user); i >= 0 {
		if v, ok := q.run.read.Val()[i].(string); ok {
			parsed, err := parseQuestRec(v)
			if err != nil {
				return nil, err
			}
			*qr = parsed
		}
	}
	q.recs[user] = qr
	return qr, nil
}

// writeQuests writes the lines and totals of the boards the batch
// clicked on.
func (f *crossFold) writeQuests(runs []*questRun) error {
	for _, run := range runs {
		q := f.quests[run.key]
		if q.clicks == 0 {
			continue
		}
		var h []any
		for _, u := range run.users {
			if qr := q.recs[u]; qr != nil {
				h = append(h, u, qr.String())
			}
		}
		var p parser
		totals := run.read.Val()[len(run.users):]
		h = append(h, "_claimed", strconv.FormatInt(p.int(totals[0])+q.claimed, 10),
			"_clicks", strconv.FormatInt(p.int(totals[1])+q.clicks, 10))
		if p.err != nil {
			return fmt.Errorf("board %s %s: %w", run.key.guild, run.key.month, p.err)
		}
		f.o.add("HSET", sfxQuest(run.key.guild, run.key.month), 2, h...)
	}
	return nil
}

// indexOf is the index of v in list, -1 if absent.
func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}
