package redisproj

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/thebutton-game/thebutton/events"
)

// errConflict means a slot's checkpoint moved between the read and the
// write of a batch (another writer, a reset): the batch is read again.
var errConflict = errors.New("redis projection: checkpoint moved")

// maxConflicts bounds how often one Apply reads again after a conflict.
const maxConflicts = 5

// Apply writes a batch in three round trips: it reads what the batch
// touches (one pipeline), folds the batch in Go by the rules of
// events.Game, then writes each game's share with that game's checkpoint
// and the cross-game share with its checkpoint (one pipeline of scripts,
// each a compare-and-set on its checkpoint), and last moves the position.
// Messages at or below a checkpoint change nothing, so a batch may be
// applied again after any failure. Messages that are not events, events
// this projection does not use and events the fold of their game refuses
// only move the position. It returns an error wrapping ErrFlushed if Redis
// lost the projection (see ErrFlushed).
func (s *Sink) Apply(ctx context.Context, batch []events.Recorded) error {
	if len(batch) == 0 {
		return nil
	}
	recs := inOrder(batch)
	first, last := recs[0].Seq, recs[len(recs)-1].Seq
	var err error
	for range maxConflicts {
		if err = s.applyOnce(ctx, recs); !errors.Is(err, errConflict) {
			break
		}
		s.conflicts.Add(1)
	}
	if err != nil {
		return fmt.Errorf("redis projection: apply %d–%d: %w", first, last, err)
	}
	return nil
}

// A batch message's part in the plan.
type item struct {
	r      events.Recorded
	run    int // its game's run, -1 if not a game event
	status byte
	// Set by the game fold for clicks: the click record and whether it
	// was the player's first click in the game.
	rec       string
	newInGame bool
}

// gameRun is the share of a batch that belongs to one game.
type gameRun struct {
	id    events.GameID
	items []int    // batch indexes, in order
	users []string // distinct clicking users, in order
	seen  map[string]bool

	game    *redis.MapStringStringCmd
	players *redis.SliceCmd
	lowEdge *redis.ZSliceCmd
	hours   []string // hour buckets the run's clicks fall in
	hourCnt *redis.SliceCmd
	dups    map[int64]*redis.StringCmd // click number → its stored record
}

// ops is a command list for apply.lua.
type ops []any

func (o *ops) add(cmd, suffix string, stride int, args ...any) {
	if len(args) == 0 {
		return
	}
	*o = append(*o, cmd, suffix, stride, len(args))
	*o = append(*o, args...)
}

func (s *Sink) applyOnce(ctx context.Context, recs []events.Recorded) error {
	first, last := recs[0].Seq, recs[len(recs)-1].Seq
	items := make([]item, len(recs))
	var runs []*gameRun
	byGame := map[events.GameID]int{}
	type questKey struct{ guild, month string }
	questUsers := map[questKey][]string{}
	questSeen := map[questKey]map[string]bool{}
	var questOrder []questKey
	for i, r := range recs {
		items[i] = item{r: r, run: -1}
		id, ok := gameEvent(r)
		if !ok {
			continue
		}
		ri, seen := byGame[id]
		if !seen {
			ri = len(runs)
			byGame[id] = ri
			runs = append(runs, &gameRun{id: id, seen: map[string]bool{}})
		}
		run := runs[ri]
		items[i].run = ri
		run.items = append(run.items, i)
		if c, ok := r.Event.(events.ButtonClicked); ok {
			if !run.seen[c.User] {
				run.seen[c.User] = true
				run.users = append(run.users, c.User)
			}
			if h := strconv.FormatInt(c.AtMS/3600000, 10); !run.seen["h"+h] {
				run.seen["h"+h] = true
				run.hours = append(run.hours, h)
			}
			qk := questKey{c.Guild, monthKey(c.AtMS)}
			if questSeen[qk] == nil {
				questSeen[qk] = map[string]bool{}
				questOrder = append(questOrder, qk)
			}
			if !questSeen[qk][c.User] {
				questSeen[qk][c.User] = true
				questUsers[qk] = append(questUsers[qk], c.User)
			}
		}
	}

	// Read what the batch touches.
	pipe := s.rdb.Pipeline()
	for _, run := range runs {
		run.game = pipe.HGetAll(ctx, s.k.game(run.id))
		if len(run.users) > 0 {
			run.players = pipe.HMGet(ctx, s.k.players(run.id), run.users...)
			run.lowEdge = pipe.ZRangeWithScores(ctx, s.k.low(run.id), LowestCap-1, LowestCap-1)
			run.hourCnt = pipe.HMGet(ctx, s.k.hours(run.id), run.hours...)
		}
	}
	gck := pipe.HGet(ctx, s.k.meta(), "ck")
	globalLowEdge := pipe.ZRangeWithScores(ctx, s.k.globalLow(), LowestCap-1, LowestCap-1)
	type questRead struct {
		users []string
		recs  *redis.SliceCmd // the users' records, then _claimed and _clicks
	}
	quests := map[questKey]*questRead{}
	for _, qk := range questOrder {
		u := questUsers[qk]
		quests[qk] = &questRead{users: u, recs: pipe.HMGet(ctx, s.k.quest(qk.guild, qk.month), append(slices.Clone(u), "_claimed", "_clicks")...)}
	}
	if err := execErr(ctx, pipe); err != nil {
		return translate("read", err)
	}
	globalCk, err := parseCk(gck)
	if err != nil {
		return err
	}

	// Clicks at or below their game's checkpoint but above the cross-game
	// one were applied to the game by an interrupted batch: whether they
	// were valid decides whether their cross-game part is due.
	var dupPipe redis.Pipeliner
	for _, run := range runs {
		ck, err := strconv.ParseUint(cmp.Or(run.game.Val()["ck"], "0"), 10, 64)
		if err != nil {
			return fmt.Errorf("game %d checkpoint: %w", run.id, err)
		}
		for _, i := range run.items {
			c, ok := items[i].r.Event.(events.ButtonClicked)
			if !ok || items[i].r.Seq > ck || items[i].r.Seq <= globalCk {
				continue
			}
			if dupPipe == nil {
				dupPipe = s.rdb.Pipeline()
			}
			if run.dups == nil {
				run.dups = map[int64]*redis.StringCmd{}
			}
			run.dups[c.Number] = dupPipe.LIndex(ctx, s.k.clicks(run.id), c.Number-1)
		}
	}
	if dupPipe != nil {
		if err := execErr(ctx, dupPipe); err != nil {
			return translate("read", err)
		}
	}

	// Fold and write every game.
	var calls []scriptCall
	for _, run := range runs {
		call, err := s.foldGame(run, items)
		if err != nil {
			return fmt.Errorf("game %d: %w", run.id, err)
		}
		if call != nil {
			calls = append(calls, *call)
		}
	}

	// Fold the cross-game share.
	var g ops
	newGck := globalCk
	var recent []string
	type lowClick struct {
		value int64
		rec   string
	}
	var lows []lowClick
	lowLimit, lowFull := zEdge(globalLowEdge.Val())
	type questAdd struct {
		claimed, clicks int64
		byUser          map[string]*questRec
	}
	qadd := map[questKey]*questAdd{}
	var pg []any
	pgSeen := map[string]bool{}
	for i := range items {
		it := &items[i]
		r := it.r
		if r.Seq <= globalCk || r.Err != nil || r.Event == nil {
			continue
		}
		if it.run >= 0 && it.status != 'a' && it.status != 'd' {
			continue
		}
		if it.run < 0 && !crossGameEvent(r) {
			continue
		}
		switch e := r.Event.(type) {
		case events.GameStarted:
			id, at := strconv.FormatInt(int64(e.Game), 10), strconv.FormatInt(e.AtMS, 10)
			g.add("ZADD", sfxGames, 2, at, id)
			g.add("ZADD", sfxGuildGames(e.Guild), 2, at, id)
			g.add("ZADD", sfxActive, 2, at, id)
		case events.GameEnded:
			g.add("ZREM", sfxActive, 1, strconv.FormatInt(int64(e.Game), 10))
		case events.GameMessagePosted:
			continue // not a cross-game event
		case events.ButtonClicked:
			recent = append(recent, it.rec)
			if !lowFull || e.ValueMS < lowLimit.value || (e.ValueMS == lowLimit.value && it.rec < lowLimit.member) {
				lows = append(lows, lowClick{e.ValueMS, it.rec})
			}
			qk := questKey{e.Guild, monthKey(e.AtMS)}
			q := qadd[qk]
			if q == nil {
				q = &questAdd{byUser: map[string]*questRec{}}
				qadd[qk] = q
			}
			q.claimed += e.ClaimedMS
			q.clicks++
			qr := q.byUser[e.User]
			if qr == nil {
				qr = &questRec{}
				q.byUser[e.User] = qr
			}
			qr.claimed += e.ClaimedMS
			qr.clicks++
			qr.b[e.Band]++
			if e.UserName != "" {
				qr.name = e.UserName
			}
			if it.newInGame || it.status == 'd' {
				m := e.User + ":" + pad(int64(e.Game))
				if !pgSeen[m] {
					pgSeen[m] = true
					pg = append(pg, "0", m)
				}
			}
		case events.ChannelClaimed:
			g.add("HSET", sfxChan, 2, e.Channel, strconv.FormatInt(int64(e.Game), 10))
		case events.GuildIconSet:
			g.add("HSET", sfxIcon, 2, e.Guild, e.Icon)
		case events.PlayerBanned:
			g.add("HSET", sfxBans(e.Guild), 2, e.User, encodeBan(e))
		case events.PlayerUnbanned:
			g.add("HDEL", sfxBans(e.Guild), 1, e.User)
		default:
			continue
		}
		newGck = r.Seq
	}
	for _, qk := range questOrder {
		q := qadd[qk]
		if q == nil {
			continue
		}
		read := quests[qk]
		vals := read.recs.Val()
		totals := vals[len(read.users):]
		var p parser
		var h []any
		for k, u := range read.users {
			add := q.byUser[u]
			if add == nil {
				continue
			}
			qr := questRec{}
			if v, ok := vals[k].(string); ok {
				if qr, err = parseQuestRec(v); err != nil {
					return err
				}
			}
			qr.claimed += add.claimed
			qr.clicks += add.clicks
			for b := range 6 {
				qr.b[b] += add.b[b]
			}
			if add.name != "" {
				qr.name = add.name
			}
			h = append(h, u, qr.String())
		}
		h = append(h, "_claimed", strconv.FormatInt(p.int(totals[0])+q.claimed, 10),
			"_clicks", strconv.FormatInt(p.int(totals[1])+q.clicks, 10))
		if p.err != nil {
			return fmt.Errorf("board %s %s: %w", qk.guild, qk.month, p.err)
		}
		g.add("HSET", sfxQuest(qk.guild, qk.month), 2, h...)
	}
	g.add("ZADD", sfxPG, 2, pg...)
	if len(recent) > 0 {
		recent = recent[max(0, len(recent)-RecentCap):]
		push := make([]any, len(recent))
		for i, rec := range recent {
			push[i] = rec
		}
		g.add("LPUSH", sfxRecent, 1, push...)
		g.add("LTRIM", sfxRecent, 0, "0", strconv.Itoa(RecentCap-1))
	}
	if len(lows) > 0 {
		slices.SortFunc(lows, func(a, b lowClick) int { return cmp.Or(cmp.Compare(a.value, b.value), strings.Compare(a.rec, b.rec)) })
		lows = lows[:min(len(lows), LowestCap)]
		var z []any
		for _, l := range lows {
			z = append(z, strconv.FormatInt(l.value, 10), l.rec)
		}
		g.add("ZADD", sfxLow, 2, z...)
		g.add("ZREMRANGEBYRANK", sfxLow, 0, strconv.Itoa(LowestCap), "-1")
	}
	if newGck != globalCk {
		args := append([]any{ckString(globalCk), strconv.FormatUint(newGck, 10), strconv.FormatUint(first, 10)}, g...)
		calls = append(calls, scriptCall{script: s.apply, keys: []string{s.k.meta()}, args: args})
	}

	// Write, then move the position.
	if len(calls) > 0 {
		res := s.run(ctx, calls)
		for _, err := range res {
			switch {
			case err == nil:
			case redis.HasErrorPrefix(err, "FLUSHED"):
				return fmt.Errorf("%w (%v)", ErrFlushed, err)
			case redis.HasErrorPrefix(err, "CONFLICT"):
				return fmt.Errorf("%w: %v", errConflict, err)
			default:
				return err
			}
		}
	}
	err = s.run(ctx, []scriptCall{{script: s.position, keys: []string{s.k.pos()},
		args: []any{strconv.FormatUint(first, 10), strconv.FormatUint(last, 10)}}})[0]
	if redis.HasErrorPrefix(err, "FLUSHED") {
		return fmt.Errorf("%w (%v)", ErrFlushed, err)
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.status == 'i' || it.status == 'o' {
			why := "the game's history refuses it"
			if it.status == 'o' {
				why = "the game does not exist"
			}
			s.log.Warn("event ignored", "seq", it.r.Seq, "subject", it.r.Subject, "type", it.r.Event.EventType(), "why", why)
		}
	}
	return nil
}

type zMember struct {
	value  int64
	member string
}

// zEdge returns the member read at rank LowestCap−1 and whether there was
// one (the set is full).
func zEdge(z []redis.Z) (zMember, bool) {
	if len(z) == 0 {
		return zMember{}, false
	}
	m, _ := z[0].Member.(string)
	return zMember{int64(z[0].Score), m}, true
}

func parseCk(cmd *redis.StringCmd) (uint64, error) {
	v, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read checkpoint", err)
	}
	return strconv.ParseUint(v, 10, 64)
}

func ckString(ck uint64) string {
	if ck == 0 {
		return ""
	}
	return strconv.FormatUint(ck, 10)
}

// gameEvent reports whether a message is an event of the game of its
// subject, and which game.
func gameEvent(r events.Recorded) (events.GameID, bool) {
	if r.Err != nil || r.Event == nil {
		return 0, false
	}
	id, ok := events.ParseGameSubject(r.Subject)
	if !ok {
		return 0, false
	}
	var of events.GameID
	switch e := r.Event.(type) {
	case events.GameStarted:
		of = e.Game
	case events.ButtonClicked:
		of = e.Game
	case events.GameEnded:
		of = e.Game
	case events.GameMessagePosted:
		of = e.Game
	}
	return id, of == id
}

// gameState is a game's hash as read, folded forward in Go.
type gameState struct {
	exists          bool
	ck              uint64
	status          string
	clicks, players int64
	claimed         int64
	dur             int64
	n, t, u         [6]int64
}

// foldGame folds a game's share of the batch over the state read, sets the
// status of each of its items and returns the script call writing the
// result, nil if nothing changes.
func (s *Sink) foldGame(run *gameRun, items []item) (*scriptCall, error) {
	h := run.game.Val()
	var p parser
	st := gameState{
		exists:  h["game"] != "",
		status:  h["status"],
		clicks:  p.field(h, "clicks"),
		players: p.field(h, "players"),
		claimed: p.field(h, "claimed"),
		dur:     p.field(h, "dur"),
	}
	ck := uint64(p.field(h, "ck"))
	for b := range 6 {
		st.n[b], st.t[b], st.u[b] = p.field(h, "n"+strconv.Itoa(b)), p.field(h, "t"+strconv.Itoa(b)), p.field(h, "u"+strconv.Itoa(b))
	}
	if p.err != nil {
		return nil, p.err
	}
	st.ck = ck

	players := map[string]*playerRec{}
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
			players[run.users[k]] = pr
		}
	}
	lowLimit, lowFull := zEdge(nil)
	if run.lowEdge != nil {
		lowLimit, lowFull = zEdge(run.lowEdge.Val())
	}

	fields := map[string]string{}
	var bandsTouched [6]bool
	countersTouched := false
	var touched []string // players, in order of their first click here
	var clickRecs []any
	perPlayer := map[string][]byte{}
	type low struct {
		value  int64
		member string
	}
	var lows []low
	var edges []any
	hours := map[string]int64{}
	if run.hourCnt != nil {
		for k, v := range run.hourCnt.Val() {
			hours[run.hours[k]] = p.int(v)
		}
		if p.err != nil {
			return nil, p.err
		}
	}
	hoursTouched := map[string]bool{}

	for _, i := range run.items {
		it := &items[i]
		seq := it.r.Seq
		seqs := strconv.FormatUint(seq, 10)
		switch e := it.r.Event.(type) {
		case events.GameStarted:
			switch {
			case seq <= st.ck:
				it.status = dupStatus(h["sseq"] == seqs)
			case st.exists:
				it.status, st.ck = 'i', seq
			default:
				st.exists, st.status, st.dur = true, string(events.StatusActive), e.DurationMS
				for k, v := range map[string]string{
					"game": strconv.FormatInt(int64(e.Game), 10), "guild": e.Guild, "bch": e.ButtonChannel,
					"cch": e.ChatChannel, "dur": strconv.FormatInt(e.DurationMS, 10),
					"cd": strconv.FormatInt(e.CooldownMS, 10), "seqn": strconv.Itoa(e.Sequential),
					"by": e.StartedBy, "byname": e.StarterName, "start": strconv.FormatInt(e.AtMS, 10),
					"last_at": strconv.FormatInt(e.AtMS, 10), "sseq": seqs, "status": st.status,
				} {
					fields[k] = v
				}
				countersTouched = true
				bandsTouched = [6]bool{true, true, true, true, true, true}
				it.status, st.ck = 'a', seq
			}
		case events.ButtonClicked:
			it.rec = encodeClick(seq, e)
			switch {
			case seq <= st.ck:
				if cmd := run.dups[e.Number]; cmd != nil && cmd.Val() == it.rec {
					it.status = 'd'
				} else {
					it.status = 's'
				}
			case !st.exists:
				it.status = 'o'
			case e.Number != st.clicks+1:
				it.status, st.ck = 'i', seq
			default:
				it.status, st.ck = 'a', seq
				st.clicks = e.Number
				countersTouched = true
				fields["last_at"] = strconv.FormatInt(e.AtMS, 10)
				fields["last"] = it.rec
				pr := players[e.User]
				if pr.clicks == 0 {
					st.players++
					pr.firstAt = e.AtMS
					it.newInGame = true
				}
				if _, ok := perPlayer[e.User]; !ok {
					touched = append(touched, e.User)
				}
				b := e.Band
				pr.clicks++
				if pr.b[b] == 0 {
					st.u[b]++
				}
				pr.b[b]++
				st.n[b]++
				st.t[b] += e.ClaimedMS
				st.claimed += e.ClaimedMS
				bandsTouched[b] = true
				if pr.clicks == 1 || e.ValueMS < pr.best {
					pr.best, pr.bestN, pr.bestB = e.ValueMS, e.Number, int64(b)
				}
				pr.lastAt, pr.lastN = e.AtMS, e.Number
				pr.claimed += e.ClaimedMS
				pr.mmr += e.MMRMilli
				if e.UserName != "" {
					pr.name = e.UserName
				}
				clickRecs = append(clickRecs, it.rec)
				perPlayer[e.User] = append(appendPad(perPlayer[e.User], e.Number), byte('0'+e.Band))
				padded := pad(e.Number)
				if !lowFull || e.ValueMS < lowLimit.value || (e.ValueMS == lowLimit.value && padded < lowLimit.member) {
					lows = append(lows, low{e.ValueMS, padded})
				}
				if dist, _, _ := NearestEdge(msDur(e.ValueMS), msDur(st.dur)); dist <= EdgeWindow(msDur(st.dur)) {
					edges = append(edges, strconv.FormatInt(dist.Milliseconds(), 10), padded)
				}
				hour := strconv.FormatInt(e.AtMS/3600000, 10)
				hours[hour]++
				hoursTouched[hour] = true
			}
		case events.GameEnded:
			switch {
			case seq <= st.ck:
				it.status = dupStatus(h["eseq"] == seqs)
			case !st.exists:
				it.status = 'o'
			case st.status != string(events.StatusActive):
				it.status, st.ck = 'i', seq
			default:
				st.status = string(events.StatusEnded)
				if e.Reason == events.EndAborted {
					st.status = string(events.StatusAborted)
				}
				fields["status"] = st.status
				fields["end_reason"] = string(e.Reason)
				fields["end_at"] = strconv.FormatInt(e.AtMS, 10)
				fields["end_by"] = e.By
				fields["end_why"] = e.Why
				fields["eseq"] = seqs
				it.status, st.ck = 'a', seq
			}
		case events.GameMessagePosted:
			switch {
			case seq <= st.ck:
				it.status = 's'
			case !st.exists:
				it.status = 'o'
			default:
				fields["msg_ch"], fields["msg_id"] = e.Channel, e.MessageID
				it.status, st.ck = 'a', seq
			}
		}
	}
	if st.ck == ck {
		return nil, nil
	}

	if countersTouched {
		fields["clicks"] = strconv.FormatInt(st.clicks, 10)
		fields["players"] = strconv.FormatInt(st.players, 10)
		fields["claimed"] = strconv.FormatInt(st.claimed, 10)
		for b, ok := range bandsTouched {
			if ok {
				sb := strconv.Itoa(b)
				fields["n"+sb] = strconv.FormatInt(st.n[b], 10)
				fields["t"+sb] = strconv.FormatInt(st.t[b], 10)
				fields["u"+sb] = strconv.FormatInt(st.u[b], 10)
			}
		}
	}
	var o ops
	if len(fields) > 0 {
		hs := make([]any, 0, 2*len(fields))
		for k, v := range fields {
			hs = append(hs, k, v)
		}
		o.add("HSET", sfxGame, 2, hs...)
	}
	o.add("RPUSH", sfxClicks, 1, clickRecs...)
	if len(touched) > 0 {
		pl := make([]any, 0, 2*len(touched))
		pc := make([]any, 0, 2*len(touched))
		for _, u := range touched {
			pl = append(pl, u, players[u].String())
			pc = append(pc, sfxPlayerClicks(u), string(perPlayer[u]))
		}
		o.add("HSET", sfxPlayers, 2, pl...)
		o.add("APPEND", "*", -2, pc...)
	}
	if len(lows) > 0 {
		slices.SortFunc(lows, func(a, b low) int { return cmp.Or(cmp.Compare(a.value, b.value), strings.Compare(a.member, b.member)) })
		lows = lows[:min(len(lows), LowestCap)]
		z := make([]any, 0, 2*len(lows))
		for _, l := range lows {
			z = append(z, strconv.FormatInt(l.value, 10), l.member)
		}
		o.add("ZADD", sfxLow, 2, z...)
		o.add("ZREMRANGEBYRANK", sfxLow, 0, strconv.Itoa(LowestCap), "-1")
	}
	o.add("ZADD", sfxEdge, 2, edges...)
	hs := make([]any, 0, 2*len(hoursTouched))
	for hr := range hoursTouched {
		hs = append(hs, hr, strconv.FormatInt(hours[hr], 10))
	}
	o.add("HSET", sfxHours, 2, hs...)
	args := append([]any{ckString(ck), strconv.FormatUint(st.ck, 10), ""}, o...)
	return &scriptCall{script: s.apply, keys: []string{s.k.game(run.id)}, args: args}, nil
}

func dupStatus(valid bool) byte {
	if valid {
		return 'd'
	}
	return 's'
}
