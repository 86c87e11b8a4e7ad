package redisproj

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/readmodel"
)

// want is what the Reader must show after a stream, folded here in plain
// Go from the events, independently of the scripts and of Verify's model.
type want struct {
	games   map[events.GameID]*wantGame
	clicks  []readmodel.Click // every accepted click, in stream order
	icons   map[string]string
	bans    map[string]map[string]readmodel.Ban
	chans   map[string]events.GameID
	pos     uint64
	players map[string][]events.GameID // user → games, first click order
}

type wantGame struct {
	fold    events.Game // to know which events the game accepts
	view    readmodel.Game
	clicks  []readmodel.Click
	players map[string]*readmodel.Player
}

func fold(all []events.Recorded) *want {
	w := &want{games: map[events.GameID]*wantGame{}, icons: map[string]string{},
		bans: map[string]map[string]readmodel.Ban{}, chans: map[string]events.GameID{}, players: map[string][]events.GameID{}}
	for _, r := range all {
		w.pos = max(w.pos, r.Seq)
		if r.Err != nil {
			continue
		}
		if id, ok := events.ParseGameSubject(r.Subject); ok {
			w.gameEvent(id, r)
			continue
		}
		if guild, ok := events.ParseGuildSubject(r.Subject); ok {
			switch e := r.Event.(type) {
			case events.GuildIconSet:
				if e.Guild == guild {
					w.icons[guild] = e.Icon
				}
			case events.PlayerBanned:
				if e.Guild == guild {
					if w.bans[guild] == nil {
						w.bans[guild] = map[string]readmodel.Ban{}
					}
					w.bans[guild][e.User] = readmodel.Ban{User: e.User, By: e.By, Reason: e.Reason, At: time.UnixMilli(e.AtMS).UTC()}
				}
			case events.PlayerUnbanned:
				if e.Guild == guild {
					delete(w.bans[guild], e.User)
				}
			}
			continue
		}
		if ch, ok := strings.CutPrefix(r.Subject, "button.channel."); ok {
			if e, ok := r.Event.(events.ChannelClaimed); ok && e.Channel == ch {
				w.chans[ch] = e.Game
			}
		}
	}
	return w
}

func utc(msec int64) time.Time { return time.UnixMilli(msec).UTC() }

func (w *want) gameEvent(id events.GameID, r events.Recorded) {
	var gameOf events.GameID
	switch e := r.Event.(type) {
	case events.GameStarted:
		gameOf = e.Game
	case events.ButtonClicked:
		gameOf = e.Game
	case events.GameEnded:
		gameOf = e.Game
	case events.GameMessagePosted:
		gameOf = e.Game
	}
	if gameOf != id {
		return // not an event of this subject's game
	}
	g := w.games[id]
	if g == nil {
		g = &wantGame{players: map[string]*readmodel.Player{}}
		w.games[id] = g
	}
	if _, start := r.Event.(events.GameStarted); !start && !g.fold.Exists() {
		return
	}
	if err := g.fold.Apply(r.Seq, r.Event); err != nil {
		g.view.Seq = r.Seq
		return
	}
	v := &g.view
	v.Seq = r.Seq
	switch e := r.Event.(type) {
	case events.GameStarted:
		*v = readmodel.Game{ID: id, Guild: e.Guild, ButtonChannel: e.ButtonChannel, ChatChannel: e.ChatChannel,
			Duration: time.Duration(e.DurationMS) * time.Millisecond, Cooldown: time.Duration(e.CooldownMS) * time.Millisecond,
			Sequential: e.Sequential, StartedBy: e.StartedBy, StarterName: e.StarterName, Start: utc(e.AtMS),
			Status: events.StatusActive, LastClickAt: utc(e.AtMS), Seq: r.Seq}
	case events.ButtonClicked:
		c := readmodel.Click{Game: id, Number: e.Number, Seq: r.Seq, Guild: e.Guild, User: e.User, UserName: e.UserName,
			At: utc(e.AtMS), Value: time.Duration(e.ValueMS) * time.Millisecond, Band: events.Band(e.Band),
			Claimed: time.Duration(e.ClaimedMS) * time.Millisecond, MMRMilli: e.MMRMilli}
		g.clicks = append(g.clicks, c)
		w.clicks = append(w.clicks, c)
		v.Clicks++
		v.Claimed += c.Claimed
		v.LastClickAt = c.At
		last := c
		v.Last = &last
		p := g.players[e.User]
		if p == nil {
			p = &readmodel.Player{Game: id, User: e.User, FirstAt: c.At}
			g.players[e.User] = p
			v.Players++
			w.players[e.User] = append(w.players[e.User], id)
		}
		p.Clicks++
		if p.Clicks == 1 || c.Value < p.Best {
			p.Best, p.BestNumber, p.BestBand = c.Value, c.Number, c.Band
		}
		p.LastAt, p.LastNumber = c.At, c.Number
		p.Claimed += c.Claimed
		p.MMRMilli += c.MMRMilli
		p.Bands[c.Band]++
		if e.UserName != "" {
			p.Name = e.UserName
		}
	case events.GameEnded:
		v.Status = events.StatusEnded
		if e.Reason == events.EndAborted {
			v.Status = events.StatusAborted
		}
		v.EndedAt, v.EndReason, v.EndedBy, v.EndWhy = utc(e.AtMS), e.Reason, e.By, e.Why
	case events.GameMessagePosted:
		v.MessageChannel, v.MessageID = e.Channel, e.MessageID
	}
	v.Deadline = v.LastClickAt.Add(v.Duration)
}

// game returns the expected view of a game, nil if it does not exist.
func (w *want) game(id events.GameID) *readmodel.Game {
	g := w.games[id]
	if g == nil || !g.fold.Exists() {
		return nil
	}
	v := g.view
	return &v
}

func (w *want) player(id events.GameID, user string) readmodel.Player {
	if p := w.games[id].players[user]; p != nil {
		return *p
	}
	return readmodel.Player{Game: id, User: user}
}

func (w *want) board(id events.GameID, b readmodel.Board, n int) []readmodel.Standing {
	var ps []readmodel.Player
	for _, p := range w.games[id].players {
		ps = append(ps, *p)
	}
	slices.SortFunc(ps, func(x, y readmodel.Player) int {
		switch b {
		case readmodel.ByMMR:
			if x.MMRMilli != y.MMRMilli {
				return cmp.Compare(y.MMRMilli, x.MMRMilli)
			}
			if x.Clicks != y.Clicks {
				return cmp.Compare(y.Clicks, x.Clicks)
			}
		case readmodel.ByClaimed:
			if x.Claimed != y.Claimed {
				return cmp.Compare(y.Claimed, x.Claimed)
			}
		case readmodel.ByClicks:
			if x.Clicks != y.Clicks {
				return cmp.Compare(y.Clicks, x.Clicks)
			}
		case readmodel.ByBest:
			if x.Best != y.Best {
				return cmp.Compare(x.Best, y.Best)
			}
			if x.BestNumber != y.BestNumber {
				return cmp.Compare(x.BestNumber, y.BestNumber)
			}
		}
		return strings.Compare(x.User, y.User)
	})
	var out []readmodel.Standing
	for i, p := range ps[:min(n, len(ps))] {
		out = append(out, readmodel.Standing{Rank: i + 1, Player: p})
	}
	return out
}

func (w *want) teams(id events.GameID) readmodel.Teams {
	g := w.games[id]
	t := readmodel.Teams{Game: id, Clicks: g.view.Clicks, Claimed: g.view.Claimed, Players: g.view.Players}
	seen := [6]map[string]bool{}
	for b := range 6 {
		t.Bands[b].Band = events.Band(b)
		seen[b] = map[string]bool{}
	}
	for _, c := range g.clicks {
		t.Bands[c.Band].Clicks++
		t.Bands[c.Band].Claimed += c.Claimed
		seen[c.Band][c.User] = true
	}
	for b := range 6 {
		t.Bands[b].Players = int64(len(seen[b]))
	}
	return t
}

func (w *want) lowest(clicks []readmodel.Click, n int) []readmodel.Click {
	cs := slices.Clone(clicks)
	slices.SortFunc(cs, func(a, b readmodel.Click) int {
		return cmp.Or(cmp.Compare(a.Value, b.Value), cmp.Compare(a.Game, b.Game), cmp.Compare(a.Number, b.Number))
	})
	return cs[:min(n, len(cs))]
}

func newestFirst(clicks []readmodel.Click, n int) []readmodel.Click {
	cs := slices.Clone(clicks)
	slices.Reverse(cs)
	return cs[:min(n, len(cs))]
}

func (w *want) clickers(id events.GameID, n int) []readmodel.Clicker {
	g := w.games[id]
	var out []readmodel.Clicker
	for _, p := range g.players {
		out = append(out, readmodel.Clicker{User: p.User, Name: p.Name, LastAt: p.LastAt, LastNumber: p.LastNumber, ReadyAt: p.LastAt.Add(g.view.Cooldown)})
	}
	slices.SortFunc(out, func(a, b readmodel.Clicker) int { return cmp.Compare(b.LastNumber, a.LastNumber) })
	return out[:min(n, len(out))]
}

// edges computes /edging from exact sixths: the edge above band k−1 is
// the smallest value v with 6v ≥ k·d.
func (w *want) edges(id events.GameID, n int) []readmodel.EdgeClick {
	g := w.games[id]
	d := g.view.Duration.Milliseconds()
	window := min(int64(300000), d/36)
	var out []readmodel.EdgeClick
	for _, c := range g.clicks {
		v := c.Value.Milliseconds()
		var best readmodel.EdgeClick
		found := false
		for k := int64(1); k <= 5; k++ {
			edge := (k*d + 5) / 6
			dist := v - edge
			if dist < 0 {
				dist = -dist
			}
			if !found || time.Duration(dist)*time.Millisecond < best.Distance {
				best = readmodel.EdgeClick{Click: c, Distance: time.Duration(dist) * time.Millisecond, Edge: events.Band(k), Above: v >= edge}
				found = true
			}
		}
		if best.Distance <= time.Duration(window)*time.Millisecond {
			out = append(out, best)
		}
	}
	slices.SortFunc(out, func(a, b readmodel.EdgeClick) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Number, b.Number))
	})
	return out[:min(n, len(out))]
}

func (w *want) hours(id events.GameID) []readmodel.HourCount {
	m := map[time.Time]int64{}
	for _, c := range w.games[id].clicks {
		m[c.At.Truncate(time.Hour)]++
	}
	var out []readmodel.HourCount
	for h, n := range m {
		out = append(out, readmodel.HourCount{Hour: h, Clicks: n})
	}
	slices.SortFunc(out, func(a, b readmodel.HourCount) int { return a.Hour.Compare(b.Hour) })
	return out
}

func (w *want) ranking(now time.Time) []readmodel.RankedGame {
	var out []readmodel.RankedGame
	for id := range w.games {
		g := w.game(id)
		if g == nil {
			continue
		}
		end := g.EndedAt
		if g.Status == events.StatusActive {
			end = time.Time{}
			if !now.Before(g.Deadline) {
				end = g.Deadline
			}
		}
		until := end
		if until.IsZero() {
			until = now
		}
		out = append(out, readmodel.RankedGame{Game: id, Guild: g.Guild, Icon: w.icons[g.Guild], Status: g.Status,
			Start: g.Start, End: end, Lifetime: until.Sub(g.Start), Clicks: g.Clicks, Players: g.Players})
	}
	slices.SortFunc(out, func(a, b readmodel.RankedGame) int {
		return cmp.Or(cmp.Compare(b.Lifetime, a.Lifetime), cmp.Compare(a.Game, b.Game))
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

func (w *want) quest(guild string, month time.Time, n int) readmodel.Quest {
	q := readmodel.Quest{Guild: guild, Month: month}
	byUser := map[string]*readmodel.QuestEntry{}
	for _, c := range w.clicks {
		if c.Guild != guild || c.At.Year() != month.Year() || c.At.Month() != month.Month() {
			continue
		}
		e := byUser[c.User]
		if e == nil {
			e = &readmodel.QuestEntry{User: c.User}
			byUser[c.User] = e
		}
		e.Claimed += c.Claimed
		e.Clicks++
		e.Bands[c.Band]++
		if c.UserName != "" {
			e.Name = c.UserName
		}
		q.Claimed += c.Claimed
		q.Clicks++
	}
	q.Players = int64(len(byUser))
	for _, e := range byUser {
		q.Entries = append(q.Entries, *e)
	}
	slices.SortFunc(q.Entries, func(a, b readmodel.QuestEntry) int {
		return cmp.Or(cmp.Compare(b.Claimed, a.Claimed), strings.Compare(a.User, b.User))
	})
	q.Entries = q.Entries[:min(n, len(q.Entries))]
	for i := range q.Entries {
		q.Entries[i].Rank = i + 1
	}
	return q
}

func (w *want) guildGames(guild string) []readmodel.Game {
	var out []readmodel.Game
	for id := range w.games {
		if g := w.game(id); g != nil && g.Guild == guild {
			out = append(out, *g)
		}
	}
	slices.SortFunc(out, func(a, b readmodel.Game) int { return cmp.Or(b.Start.Compare(a.Start), cmp.Compare(b.ID, a.ID)) })
	return out
}

func (w *want) activeGames() []readmodel.Game {
	var out []readmodel.Game
	for id := range w.games {
		if g := w.game(id); g != nil && g.Status == events.StatusActive {
			out = append(out, *g)
		}
	}
	slices.SortFunc(out, func(a, b readmodel.Game) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
	return out
}

func (w *want) playerGames(user string) []readmodel.Player {
	var out []readmodel.Player
	for _, id := range w.players[user] {
		out = append(out, w.player(id, user))
	}
	slices.SortFunc(out, func(a, b readmodel.Player) int {
		return cmp.Or(b.LastAt.Compare(a.LastAt), cmp.Compare(b.Game, a.Game))
	})
	return out
}

func (w *want) banList(guild string) []readmodel.Ban {
	var out []readmodel.Ban
	for _, b := range w.bans[guild] {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b readmodel.Ban) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.User, b.User)) })
	return out
}

func bandsOf(clicks []readmodel.Click) []events.Band {
	out := make([]events.Band, len(clicks))
	for i, c := range clicks {
		out[i] = c.Band
	}
	return out
}

func userClicks(clicks []readmodel.Click, user string) []readmodel.Click {
	var out []readmodel.Click
	for _, c := range clicks {
		if c.User == user {
			out = append(out, c)
		}
	}
	return out
}
