package commands

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/thebutton-game/thebutton/events"
)

// DecidePress applies GAME-RULES §3, in order, to a press stamped nowMS
// (already raised to the game's newest event time). The first failing
// check is the refusal; otherwise it returns the click to record, with
// every figure computed once here. banned says whether the guild's ban
// list holds the player.
func DecidePress(g *events.Game, banned bool, p Press, nowMS int64) (events.ButtonClicked, *Rejection) {
	// 1. The game exists and belongs to the guild the press came from.
	if !g.Exists() {
		return events.ButtonClicked{}, &Rejection{Reason: ReasonNoSuchGame, Game: p.Game}
	}
	if g.Started.Guild != p.Guild {
		return events.ButtonClicked{}, &Rejection{Reason: ReasonWrongGuild, Game: p.Game}
	}
	// 2. Active and strictly before the deadline: no buffer of any size.
	deadline := g.DeadlineMS()
	if !g.Active() || nowMS >= deadline {
		end := deadline
		if !g.Active() {
			end = g.Ended.AtMS
		}
		rej := &Rejection{Reason: ReasonGameOver, Game: p.Game, DeadlineMS: end, Aborted: g.Status == events.StatusAborted}
		// The press's own stamp (nowMS is raised to the end's time): one
		// received before the clock ran out, or before an admin stopped the
		// game, lost only to the end's append.
		if !g.Active() && !p.At.IsZero() && ms(p.At) < end {
			rej.BeforeEnd, rej.PressedMS = true, ms(p.At)
		}
		return events.ButtonClicked{}, rej
	}
	// 3. Not banned in this guild.
	if banned {
		return events.ButtonClicked{}, &Rejection{Reason: ReasonBanned, Game: p.Game, DeadlineMS: deadline}
	}
	if player, ok := g.Player(p.User); ok {
		// 4. Cooldown: last click + cooldown ≤ now (exactly 0 left is allowed).
		if ready := player.LastClickMS + g.Started.CooldownMS; ready > nowMS {
			return events.ButtonClicked{}, &Rejection{Reason: ReasonCooldown, Game: p.Game,
				DeadlineMS: deadline, ReadyAtMS: ready, WaitMS: ready - nowMS}
		}
		// 5. Sequential: N distinct other players since the player's last click.
		if n := g.Started.Sequential; n > 0 {
			if got := g.DistinctOthersSince(p.User, player.LastNumber, n); got < n {
				return events.ButtonClicked{}, &Rejection{Reason: ReasonSequential, Game: p.Game,
					DeadlineMS: deadline, PlayersNeeded: n - got, Required: n}
			}
		}
	}
	// 6. Accept.
	d := g.DurationMS()
	value := events.Remaining(deadline, nowMS)
	return events.ButtonClicked{
		Game:        p.Game,
		Guild:       p.Guild,
		Number:      g.Clicks + 1,
		User:        p.User,
		UserName:    clip(p.UserName, events.MaxNameLen),
		Interaction: p.Interaction,
		AtMS:        nowMS,
		ValueMS:     value,
		Band:        int(events.BandOf(value, d)),
		ClaimedMS:   events.Claimed(value, d),
		MMRMilli:    events.MMRMilli(value, d),
	}, nil
}

// DecideExpire returns the end of a game whose deadline has passed at
// nowMS: reason expired, at the deadline itself. ok is false while the game
// is not active or its deadline is still ahead.
func DecideExpire(g *events.Game, nowMS int64) (e events.GameEnded, ok bool) {
	if !g.Active() || nowMS < g.DeadlineMS() {
		return events.GameEnded{}, false
	}
	return events.GameEnded{Game: g.Started.Game, Reason: events.EndExpired, AtMS: g.DeadlineMS()}, true
}

// DecideAbort stops an active game before its deadline. A game whose
// deadline has passed is over already and is refused as game over (the
// timekeeper records its end at the deadline).
func DecideAbort(g *events.Game, a Abort, nowMS int64) (events.GameEnded, *Rejection) {
	if !g.Exists() {
		return events.GameEnded{}, &Rejection{Reason: ReasonNoSuchGame, Game: a.Game}
	}
	if g.Started.Guild != a.Guild {
		return events.GameEnded{}, &Rejection{Reason: ReasonWrongGuild, Game: a.Game}
	}
	if !g.Active() || nowMS >= g.DeadlineMS() {
		end := g.DeadlineMS()
		if !g.Active() {
			end = g.Ended.AtMS
		}
		return events.GameEnded{}, &Rejection{Reason: ReasonGameOver, Game: a.Game, DeadlineMS: end,
			Aborted: g.Status == events.StatusAborted}
	}
	return events.GameEnded{Game: a.Game, Reason: events.EndAborted, AtMS: nowMS, By: a.By,
		Why: clip(a.Reason, events.MaxReasonLen)}, nil
}

// validateStart checks a start request and fills in its defaults.
func validateStart(s StartGame) (StartGame, *Rejection) {
	if s.ChatChannel == "" {
		s.ChatChannel = s.Channel
	}
	if s.Duration == 0 {
		s.Duration = DefaultDuration
	}
	if s.Cooldown < 0 {
		s.Cooldown = DefaultCooldown
	}
	maxD := time.Duration(events.MaxDurationMS) * time.Millisecond
	var problem string
	switch {
	case !events.ValidID(s.Guild), !events.ValidID(s.Channel), !events.ValidID(s.ChatChannel), !events.ValidID(s.By):
		problem = "guild, channel, chat channel and starter must be Discord ids"
	case s.Duration < MinDuration || s.Duration > maxD:
		problem = fmt.Sprintf("duration must be between %s and %s", MinDuration, maxD)
	case s.Duration%time.Millisecond != 0:
		problem = "duration must be whole milliseconds"
	case s.Cooldown > maxD || s.Cooldown%time.Millisecond != 0:
		problem = fmt.Sprintf("cooldown must be whole milliseconds between 0 and %s", maxD)
	case s.Sequential < 0 || s.Sequential > events.MaxSequential:
		problem = fmt.Sprintf("the sequential requirement must be between 0 and %d", events.MaxSequential)
	}
	if problem != "" {
		return s, &Rejection{Reason: ReasonInvalid, Detail: problem}
	}
	s.ByName = clip(s.ByName, events.MaxNameLen)
	return s, nil
}

func validatePress(p Press) *Rejection {
	switch {
	case p.Game <= 0:
		return &Rejection{Reason: ReasonNoSuchGame, Game: p.Game}
	case !events.ValidID(p.Guild) || !events.ValidID(p.User):
		return &Rejection{Reason: ReasonInvalid, Game: p.Game, Detail: "guild and user must be Discord ids"}
	case p.Interaction == "" || len(p.Interaction) > events.MaxNameLen:
		return &Rejection{Reason: ReasonInvalid, Game: p.Game, Detail: "a press needs its interaction id"}
	}
	return nil
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
