package bench

import "testing"

// TestClassifyPress reads the bot's answers to presses (discordbot/press.go)
// as the interactions bench does, at once or edited in after a deferral.
func TestClassifyPress(t *testing.T) {
	tests := []struct {
		name, content string
		want          pressOutcome
	}{
		{"accepted", "🟢 **Green click!** You pressed game #3 with **41.2s** left and put **18.8s** back on the clock.", pressAccepted},
		{"accepted again", "🟢 **Green click!** You pressed game #3 with **41.2s** left and put **18.8s** back on the clock (this press had already been counted).", pressAccepted},
		{"shed", "The button is very busy right now and your press was not recorded. Please press again.", pressShed},
		{"cooldown", "You are cooling down: press again <t:1700000000:R>.", pressRefused},
		{"game over", "Game over: the clock of game #3 ran out <t:1700000000:R> (at <t:1700000000:T>). Presses at or after zero do not count.", pressRefused},
		{"failed", "Something went wrong on our side and your press may not have been recorded. Please try again in a moment.", pressRefused},
		{"empty", "", pressRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyPress(tt.content); got != tt.want {
				t.Errorf("classifyPress(%q) = %d, want %d", tt.content, got, tt.want)
			}
		})
	}
}

// TestInteractionOf: the fake Discord adopts the tokens of the run's
// presses only.
func TestInteractionOf(t *testing.T) {
	b := &interactionsBench{base: 1000, presses: 10}
	for token, want := range map[string]bool{"tok-1000": true, "tok-1009": true, "tok-999": false, "tok-1010": false,
		"tok-01001": false, "1001": false, "tok-x": false, "ping": false} {
		if id, ok := b.interactionOf(token); ok != want || ok && "tok-"+id != token {
			t.Errorf("interactionOf(%q) = %q, %v; want %v", token, id, ok, want)
		}
	}
}
