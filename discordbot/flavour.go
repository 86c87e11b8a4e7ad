package discordbot

import (
	"hash/fnv"
	"strconv"

	"github.com/thebutton-game/thebutton/events"
)

// Flavour lines of the click announcements: our own short texts, picked
// by band, by how early or late in the clock the click came, and for every
// tenth click. No outside service is asked.

var flavourByBand = [6][]string{
	events.Red: {
		"The clock was nearly silent. Nerves of steel.",
		"A heartbeat from zero — the rarest colour there is.",
		"Everyone else had given up on this button. Not you.",
		"That was close enough to hear the gears stop.",
		"Red is earned, never given.",
	},
	events.Orange: {
		"Cutting it fine, and looking good doing it.",
		"The embers were glowing when you stepped in.",
		"A warm colour for a cool head.",
		"Late enough to sweat, early enough to be safe.",
	},
	events.Yellow: {
		"Right in the middle of the afternoon of the clock.",
		"Patience paid off — a bright yellow press.",
		"Half the clock gone, and you kept your calm.",
		"Sunny side up.",
	},
	events.Green: {
		"Steady hands keep the button alive.",
		"A calm, green press. The button thanks you.",
		"Not too early, not too late.",
		"Growth is slow. So was that press, a little.",
	},
	events.Blue: {
		"Cool and early. The clock barely noticed.",
		"A quick blue press: safety first.",
		"The tide was high when you pressed.",
		"Blue skies over the button.",
	},
	events.Purple: {
		"The clock had barely moved. Royal impatience.",
		"Purple: the colour of pressing first and asking later.",
		"A fresh press on a fresh clock.",
		"Someone could not wait, and now the clock is full again.",
	},
}

var flavourEarly = []string{
	"The button was in no danger at all, but it appreciates the company.",
	"Plenty of time left — and now even more.",
}

var flavourLate = []string{
	"The button was fading. You brought it back.",
	"Saved from the edge.",
}

var flavourMilestone = []string{
	"Click number %s! The button keeps a tally, and this one is a round number.",
	"That is click %s for this game. Milestones make legends.",
	"%s clicks and counting.",
}

// pick chooses a line deterministically from the event, so the same click
// always gets the same line.
func pick(lines []string, seed string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(seed))
	return lines[int(h.Sum32()%uint32(len(lines)))]
}

// flavour returns the flavour line of a click in a game of durationMS.
func flavour(c events.ButtonClicked, durationMS int64) string {
	seed := c.Interaction + c.Game.String() + strconv.FormatInt(c.Number, 10)
	if c.Number > 0 && c.Number%10 == 0 {
		line := pick(flavourMilestone, seed)
		return sprintfOne(line, strconv.FormatInt(c.Number, 10))
	}
	band := events.Band(c.Band)
	if durationMS > 0 {
		frac := float64(c.ValueMS) / float64(durationMS)
		switch h := fnv.New32a(); {
		case frac >= 0.95:
			_, _ = h.Write([]byte(seed + "e"))
			if h.Sum32()%2 == 0 {
				return pick(flavourEarly, seed)
			}
		case frac <= 0.05:
			_, _ = h.Write([]byte(seed + "l"))
			if h.Sum32()%2 == 0 {
				return pick(flavourLate, seed)
			}
		}
	}
	if !band.Valid() {
		band = events.Red
	}
	return pick(flavourByBand[band], seed)
}

// sprintfOne replaces the one %s of a line.
func sprintfOne(line, v string) string {
	for i := 0; i+1 < len(line); i++ {
		if line[i] == '%' && line[i+1] == 's' {
			return line[:i] + v + line[i+2:]
		}
	}
	return line
}
