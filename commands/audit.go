package commands

import (
	"fmt"

	"github.com/thebutton-game/thebutton/events"
)

// Audit re-checks one game's stored history against GAME-RULES §2–5,
// independently of DecidePress and of the fold: nothing accepted at or
// past a deadline, inside a cooldown or against N; click numbers
// contiguous; no interaction counted twice; figures as the rules compute
// them; times never going backwards; an expiry recorded at the deadline.
// It returns one line per broken rule; none means the history is sound.
//
// Imported history (events with events.Imported set, from the original
// bot) is what the original accepted, under rules it did not all enforce:
// for those events Audit skips the checks of the original's decisions —
// the deadline, the cooldown, N, times never going backwards, and the
// value against the clock (the original measured it late) — and keeps the
// structural ones: click numbers contiguous, nothing after the end, one
// end, an expiry at the deadline, figures as the rules compute them from
// the recorded value, no interaction of ours on an imported click, and no
// imported event after a native one (an import only ever precedes the
// takeover). Native events after an imported history are checked fully,
// against the state the imported clicks left (cooldowns, N, the deadline).
func Audit(recs []events.Recorded) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var st events.GameStarted
	var lastClick, lastTime int64
	var clicks int64
	ended := false
	lastByUser := map[string]int64{} // user → time of last click
	numByUser := map[string]int{}    // user → index into order of last click
	var order []string               // users in click order
	seen := map[string]bool{}        // interactions
	native := false                  // a native event was seen
	for _, r := range recs {
		if r.Err != nil {
			bad("undecodable message %d", r.Seq)
			continue
		}
		_, imported := events.ImportedFrom(r.Event)
		if imported && native {
			bad("imported %s at seq %d after native events", r.Event.EventType(), r.Seq)
		}
		native = native || !imported
		var at int64
		switch e := r.Event.(type) {
		case events.GameStarted:
			st, lastClick, at = e, e.AtMS, e.AtMS
		case events.ButtonClicked:
			at = e.AtMS
			deadline := lastClick + st.DurationMS
			switch {
			case ended:
				bad("click %d after the end", e.Number)
			case e.AtMS >= deadline && !imported:
				bad("click %d at %d, at or past the deadline %d", e.Number, e.AtMS, deadline)
			}
			if e.Number != clicks+1 {
				bad("click number %d after %d", e.Number, clicks)
			}
			switch {
			case imported && e.Interaction != "":
				bad("imported click %d carries interaction %s", e.Number, e.Interaction)
			case imported:
			case seen[e.Interaction]:
				bad("interaction %s counted twice", e.Interaction)
			default:
				seen[e.Interaction] = true
			}
			v := deadline - e.AtMS
			if imported {
				v = e.ValueMS // the original's recorded value, not our clock
				if e.ClaimedMS != events.Claimed(v, st.DurationMS) {
					bad("imported click %d claims %d of value %d", e.Number, e.ClaimedMS, v)
				}
			} else if e.ValueMS != v || e.ClaimedMS != st.DurationMS-v {
				bad("click %d figures %+v, remaining was %d", e.Number, e, v)
			}
			if e.Band != int(events.BandOf(v, st.DurationMS)) || e.MMRMilli != events.MMRMilli(v, st.DurationMS) {
				bad("click %d band or MMR %+v, value %d", e.Number, e, v)
			}
			if prev, ok := lastByUser[e.User]; ok && !imported {
				if prev+st.CooldownMS > e.AtMS {
					bad("click %d by %s inside the cooldown (last %d)", e.Number, e.User, prev)
				}
				others := map[string]bool{}
				for _, u := range order[numByUser[e.User]+1:] {
					if u != e.User {
						others[u] = true
					}
				}
				if len(others) < st.Sequential {
					bad("click %d by %s after %d distinct others, N = %d", e.Number, e.User, len(others), st.Sequential)
				}
			}
			clicks = e.Number
			lastClick = e.AtMS
			lastByUser[e.User] = e.AtMS
			numByUser[e.User] = len(order)
			order = append(order, e.User)
		case events.GameEnded:
			at = e.AtMS
			if ended {
				bad("ended twice")
			}
			ended = true
			if e.Reason == events.EndExpired && e.AtMS != lastClick+st.DurationMS {
				bad("expired at %d, deadline was %d", e.AtMS, lastClick+st.DurationMS)
			}
		case events.GameMessagePosted:
			at = e.AtMS
		}
		if at < lastTime && !imported {
			bad("time went backwards at seq %d: %d < %d", r.Seq, at, lastTime)
		}
		lastTime = max(lastTime, at)
	}
	return problems
}
