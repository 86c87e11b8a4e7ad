package events

import "fmt"

// ClickLog describes the game's per-click state, for tests that compare
// it before and after.
func (g *Game) ClickLog() string {
	l := &g.clicks
	return fmt.Sprint(l.at, l.by, l.idents, l.players, l.users, l.texts, l.ids, l.late, l.strIDs, len(l.odd))
}
