package redisproj

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/thebutton-game/thebutton/events"
)

// gameFold is one game's share of a batch folded in Go over the game's
// keys as read, by the rules of events.Game: what the game's script call
// writes.
type gameFold struct {
	run  *gameRun
	h    map[string]string // the game's hash as read
	ck0  uint64            // its checkpoint as read
	ck   uint64            // its checkpoint after the fold
	live bool              // the game exists
	// status and dur are the game's status and duration (ms).
	status      string
	dur, clicks int64
	tally
	players map[string]*playerRec // the run's clicking users, as read

	fields          map[string]string // G game fields to set
	countersTouched bool
	bandsTouched    [6]bool
	touched         []string          // players, in order of their first click here
	perPlayer       map[string][]byte // user → entries appended to G pc:<user>
	clickRecs       []any             // appended to G c
	lows            []zMember         // candidates for G low
	lowLimit        zMember
	lowFull         bool
	edges           []any            // G edge members to add
	hours           map[string]int64 // hour → clicks, as read then counted
	hoursTouched    []string
}

// newGameFold parses the game's keys as read.
func newGameFold(run *gameRun) (*gameFold, error) {
	h := run.game.Val()
	var p parser
	f := &gameFold{run: run, h: h, live: h["game"] != "", status: h["status"],
		clicks: p.field(h, "clicks"), dur: p.field(h, "dur"),
		fields: map[string]string{}, perPlayer: make(map[string][]byte, len(run.users)),
		hours: make(map[string]int64, len(run.hours)), players: make(map[string]*playerRec, len(run.users))}
	f.ck0 = uint64(p.field(h, "ck"))
	f.ck = f.ck0
	f.tally.players, f.tally.claimed = p.field(h, "players"), p.field(h, "claimed")
	for b, names := range bandFields {
		f.n[b], f.t[b], f.u[b] = p.field(h, names[0]), p.field(h, names[1]), p.field(h, names[2])
	}
	if run.hourCnt != nil {
		for k, v := range run.hourCnt.Val() {
			f.hours[run.hours[k]] = p.int(v)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	if run.players != nil {
		for k, v := range run.players.Val() {
			pr := &playerRec{}
			if rec, ok := v.(string); ok {
				parsed, err := parsePlayerRec(rec)
				if err != nil {
					return nil, err
				}
				*pr = parsed
			}
			f.players[run.users[k]] = pr
		}
	}
	if run.lowEdge != nil {
		f.lowLimit, f.lowFull = zEdge(run.lowEdge.Val())
	}
	return f, nil
}

// foldGame folds a game's share of the batch over the state read, sets the
// outcome of each of its items and returns the script call writing the
// result, nil if nothing changes.
func (s *Sink) foldGame(run *gameRun, items []item) (*scriptCall, error) {
	f, err := newGameFold(run)
	if err != nil {
		return nil, err
	}
	for _, i := range run.items {
		it := &items[i]
		switch e := it.r.Event.(type) {
		case events.GameStarted:
			it.out = f.start(it.r.Seq, e)
		case events.ButtonClicked:
			it.rec = encodeClick(it.r.Seq, e)
			it.out, it.newInGame = f.click(it.r.Seq, e, it.rec)
		case events.GameEnded:
			it.out = f.end(it.r.Seq, e)
		case events.GameMessagePosted:
			it.out = f.messagePosted(it.r.Seq, e)
		}
	}
	if f.ck == f.ck0 {
		return nil, nil
	}
	args := append([]any{ckString(f.ck0), strconv.FormatUint(f.ck, 10), ""}, f.ops()...)
	return &scriptCall{script: s.apply, keys: []string{s.k.game(run.id)}, args: args}, nil
}

func (f *gameFold) start(seq uint64, e events.GameStarted) outcome {
	seqs := strconv.FormatUint(seq, 10)
	switch {
	case seq <= f.ck:
		return appliedIf(f.h["sseq"] == seqs)
	case f.live:
		f.ck = seq
		return refused
	}
	f.live, f.status, f.dur = true, string(events.StatusActive), e.DurationMS
	for k, v := range map[string]string{
		"game": strconv.FormatInt(int64(e.Game), 10), "guild": e.Guild, "bch": e.ButtonChannel,
		"cch": e.ChatChannel, "dur": strconv.FormatInt(e.DurationMS, 10),
		"cd": strconv.FormatInt(e.CooldownMS, 10), "seqn": strconv.Itoa(e.Sequential),
		"by": e.StartedBy, "byname": e.StarterName, "start": strconv.FormatInt(e.AtMS, 10),
		"last_at": strconv.FormatInt(e.AtMS, 10), "sseq": seqs, "status": f.status,
	} {
		f.fields[k] = v
	}
	f.countersTouched = true
	f.bandsTouched = [6]bool{true, true, true, true, true, true}
	f.ck = seq
	return applied
}

// click folds a click whose record is rec; first reports whether it is
// the player's first click in the game.
func (f *gameFold) click(seq uint64, e events.ButtonClicked, rec string) (out outcome, first bool) {
	switch {
	case seq <= f.ck:
		cmd := f.run.dups[e.Number]
		return appliedIf(cmd != nil && cmd.Val() == rec), false
	case !f.live:
		return noGame, false
	case e.Number != f.clicks+1:
		f.ck = seq
		return refused, false
	}
	f.ck, f.clicks = seq, e.Number
	f.countersTouched = true
	f.bandsTouched[e.Band] = true
	f.fields["last_at"] = strconv.FormatInt(e.AtMS, 10)
	f.fields["last"] = rec
	if _, ok := f.perPlayer[e.User]; !ok {
		f.touched = append(f.touched, e.User)
	}
	first = f.tally.click(f.players[e.User], e)
	f.clickRecs = append(f.clickRecs, rec)
	f.perPlayer[e.User] = append(appendPad(f.perPlayer[e.User], e.Number), byte('0'+e.Band))
	padded := pad(e.Number)
	if below(f.lowLimit, f.lowFull, e.ValueMS, padded) {
		f.lows = append(f.lows, zMember{e.ValueMS, padded})
	}
	if dist, ok := edgeDistance(e.ValueMS, f.dur); ok {
		f.edges = append(f.edges, strconv.FormatInt(dist, 10), padded)
	}
	hour := strconv.FormatInt(e.AtMS/3600000, 10)
	if f.hours[hour]++; !slices.Contains(f.hoursTouched, hour) {
		f.hoursTouched = append(f.hoursTouched, hour)
	}
	return applied, first
}

func (f *gameFold) end(seq uint64, e events.GameEnded) outcome {
	seqs := strconv.FormatUint(seq, 10)
	switch {
	case seq <= f.ck:
		return appliedIf(f.h["eseq"] == seqs)
	case !f.live:
		return noGame
	case f.status != string(events.StatusActive):
		f.ck = seq
		return refused
	}
	f.status = string(events.StatusEnded)
	if e.Reason == events.EndAborted {
		f.status = string(events.StatusAborted)
	}
	f.fields["status"] = f.status
	f.fields["end_reason"] = string(e.Reason)
	f.fields["end_at"] = strconv.FormatInt(e.AtMS, 10)
	f.fields["end_by"] = e.By
	f.fields["end_why"] = e.Why
	f.fields["eseq"] = seqs
	f.ck = seq
	return applied
}

func (f *gameFold) messagePosted(seq uint64, e events.GameMessagePosted) outcome {
	switch {
	case seq <= f.ck:
		return skipped
	case !f.live:
		return noGame
	}
	f.fields["msg_ch"], f.fields["msg_id"] = e.Channel, e.MessageID
	f.ck = seq
	return applied
}

// ops lists the game's writes for apply.lua.
func (f *gameFold) ops() ops {
	if f.countersTouched {
		f.fields["clicks"] = strconv.FormatInt(f.clicks, 10)
		f.tally.putTotals(f.fields)
		for b, ok := range f.bandsTouched {
			if ok {
				f.tally.putBand(f.fields, b)
			}
		}
	}
	var o ops
	hs := make([]any, 0, 2*len(f.fields))
	for k, v := range f.fields {
		hs = append(hs, k, v)
	}
	o.add("HSET", sfxGame, 2, hs...)
	o.add("RPUSH", sfxClicks, 1, f.clickRecs...)
	if len(f.touched) > 0 {
		pl := make([]any, 0, 2*len(f.touched))
		pc := make([]any, 0, 2*len(f.touched))
		for _, u := range f.touched {
			pl = append(pl, u, f.players[u].String())
			pc = append(pc, sfxPlayerClicks(u), string(f.perPlayer[u]))
		}
		o.add("HSET", sfxPlayers, 2, pl...)
		o.add("APPEND", "*", -2, pc...)
	}
	o.addLowest(sfxLow, f.lows)
	o.add("ZADD", sfxEdge, 2, f.edges...)
	hours := make([]any, 0, 2*len(f.hoursTouched))
	for _, hr := range f.hoursTouched {
		hours = append(hours, hr, strconv.FormatInt(f.hours[hr], 10))
	}
	o.add("HSET", sfxHours, 2, hours...)
	return o
}

// below reports whether a click (value, member) enters a lowest-clicks
// set whose member at rank LowestCap−1 is limit (full: the set has one).
func below(limit zMember, full bool, value int64, member string) bool {
	return !full || value < limit.value || (value == limit.value && member < limit.member)
}

// addLowest adds the LowestCap lowest of the candidates to a lowest-clicks
// set and trims the set to LowestCap members.
func (o *ops) addLowest(suffix string, lows []zMember) {
	if len(lows) == 0 {
		return
	}
	slices.SortFunc(lows, func(a, b zMember) int {
		return cmp.Or(cmp.Compare(a.value, b.value), strings.Compare(a.member, b.member))
	})
	lows = lows[:min(len(lows), LowestCap)]
	z := make([]any, 0, 2*len(lows))
	for _, l := range lows {
		z = append(z, strconv.FormatInt(l.value, 10), l.member)
	}
	o.add("ZADD", suffix, 2, z...)
	o.add("ZREMRANGEBYRANK", suffix, 0, strconv.Itoa(LowestCap), "-1")
}
