package events

import "fmt"

// ClickLog describes the game's per-click state, for tests that compare
// it before and after.
func (g *Game) ClickLog() string {
	l := &g.clicks
	return fmt.Sprint(l.at, l.by, l.idents, len(l.ids), len(l.strIDs), len(l.odd))
}
