package commands_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
)

// BenchmarkPress times one press decided and appended to an embedded
// JetStream, as the bot sends it (with a DecideBy): the handler's own
// cost per press, the append included. 2,000 players in turn, cooldown 0.
func BenchmarkPress(b *testing.B) {
	e := newEnv(b)
	h := e.handler(b, commands.SystemClock{})
	ctx := context.Background()
	g, err := h.StartGame(ctx, commands.StartGame{Guild: "10", Channel: "20", By: "30", Duration: 12 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		now := time.Now()
		_, err := h.Press(ctx, commands.Press{Game: g.Game, Guild: "10", User: strconv.Itoa(1000 + n%2000), UserName: "p",
			Interaction: "i" + strconv.Itoa(n), At: now, DecideBy: now.Add(8 * time.Second)})
		if err != nil {
			b.Fatal(err)
		}
	}
}
