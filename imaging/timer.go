package imaging

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/thebutton-game/thebutton/timefmt"
)

// ErrInvalidInput is wrapped by every error caused by input that cannot be
// drawn (an unknown band, say). Callers can test for it with errors.Is.
var ErrInvalidInput = errors.New("imaging: invalid input")

// Urgency is how close a running clock is to zero. It decides whether the
// timer card is animated and how strongly it shakes and glows. Higher is
// more urgent.
type Urgency int

// The urgency levels, from calm to the last half minute.
const (
	UrgencyNormal     Urgency = iota // more than 30 minutes left: static card
	UrgencyAlert                     // ≤ 30 min left: gentle glow
	UrgencyEmergency                 // ≤ 5 min left: glow and shake
	UrgencyCritical                  // ≤ 60 s left: strong glow, fast shake
	UrgencyApocalypse                // ≤ 30 s left: white-hot, shake grows to the end
)

// Thresholds of the urgency levels (remaining time at or below).
const (
	AlertAt      = 30 * time.Minute
	EmergencyAt  = 5 * time.Minute
	CriticalAt   = 60 * time.Second
	ApocalypseAt = 30 * time.Second
)

// UrgencyFor returns the urgency of a clock with remaining time left. The
// levels are absolute (not relative to the game's duration): ≤ 30 s
// apocalypse, ≤ 60 s critical, ≤ 5 min emergency, ≤ 30 min alert, otherwise
// normal. Zero or negative remaining is apocalypse (the card itself then
// shows game over, see [TimerCard]).
func UrgencyFor(remaining time.Duration) Urgency {
	switch {
	case remaining <= ApocalypseAt:
		return UrgencyApocalypse
	case remaining <= CriticalAt:
		return UrgencyCritical
	case remaining <= EmergencyAt:
		return UrgencyEmergency
	case remaining <= AlertAt:
		return UrgencyAlert
	}
	return UrgencyNormal
}

// Animated reports whether cards of this urgency are animated GIFs.
func (u Urgency) Animated() bool { return u > UrgencyNormal && u <= UrgencyApocalypse }

// String returns the level's lower-case name.
func (u Urgency) String() string {
	switch u {
	case UrgencyNormal:
		return "normal"
	case UrgencyAlert:
		return "alert"
	case UrgencyEmergency:
		return "emergency"
	case UrgencyCritical:
		return "critical"
	case UrgencyApocalypse:
		return "apocalypse"
	}
	return "urgency(" + strconv.Itoa(int(u)) + ")"
}

// Urgencies returns every urgency level, calm first.
func Urgencies() []Urgency {
	return []Urgency{UrgencyNormal, UrgencyAlert, UrgencyEmergency, UrgencyCritical, UrgencyApocalypse}
}

// FormatClock formats d as HH:MM:SS, truncated to whole seconds. Hours are
// at least two digits and may be more (999:59:59). Negative d formats as
// 00:00:00.
func FormatClock(d time.Duration) string {
	var buf [24]byte
	return string(appendClock(buf[:0], int64(max(d, 0)/time.Second)))
}

// FormatTime is how the pictures write a time for players: timefmt.Clock
// (to the millisecond under a minute).
func FormatTime(d time.Duration) string { return timefmt.Clock(d.Milliseconds()) }

// appendClock is timefmt's clock: the pictures write times as every other
// place does.
func appendClock(b []byte, secs int64) []byte { return timefmt.AppendClock(b, secs) }

// TimerCard is what the timer card shows. The zero value is a valid Red
// game-over card at the default size.
type TimerCard struct {
	// Band is the band of the current remaining time; it colours the body
	// and places the marker on the START → END strip.
	Band Band
	// Remaining is the time left on the clock. It is shown truncated to
	// whole seconds; zero or negative means the game is over. (Under a
	// second left the game still runs: the card reads 00:00:00 and is
	// animated, not "game over".)
	Remaining time.Duration
	// Over forces the game-over card (for example for an aborted game).
	Over bool
	// Static asks for a PNG even when the urgency would animate the card,
	// for places that cannot show a GIF.
	Static bool
	// Deadline, when set on a running card, makes a card that does not go
	// stale: it shows the deadline's UTC time of day ("ENDS AT (UTC)")
	// instead of the time left, in the band's colour, and is never
	// animated. Discord's live <t:R> countdown next to it gives the time
	// left; the card changes only with the band, the urgency and the
	// deadline.
	Deadline time.Time
	// Width is the card width in pixels; 0 means DefaultCardWidth. It is
	// clamped to [MinCardWidth, MaxCardWidth]; the height is 3/5 of it.
	// Animated cards grow with the area: ~300 KB at the default width.
	Width int
}

// Card sizes in pixels. The default fits a Discord embed image at 1:1.
const (
	DefaultCardWidth = 400
	MinCardWidth     = 200
	MaxCardWidth     = 1600
)

// CardKey identifies what is visible on a timer card: two cards with equal
// keys produce identical bytes. Callers compare keys to decide whether the
// visible card changed (and a message edit is needed); [Renderer] caches by
// it. CardKey is comparable.
type CardKey struct {
	Band     Band
	Seconds  int64 // displayed whole seconds (0 when over)
	Urgency  Urgency
	Over     bool
	Animated bool
	Width    int
	// Label is the text above the digits when it is not the default
	// ("TIME LEFT" / "GAME OVER"): a deadline card's.
	Label string
}

// Labels of a deadline card, by urgency.
const (
	LabelDeadline       = "ENDS AT (UTC)"
	LabelDeadlineUrgent = "HURRY! ENDS AT (UTC)"
)

func (k CardKey) label() string {
	if k.Label != "" {
		return k.Label
	}
	return labelFor(k.Over)
}

// Key returns the visible identity of c after normalisation (default width,
// clamping, game over at zero).
func (c TimerCard) Key() CardKey {
	w := c.Width
	if w == 0 {
		w = DefaultCardWidth
	}
	w = min(max(w, MinCardWidth), MaxCardWidth)
	secs := int64(max(c.Remaining, 0) / time.Second)
	over := c.Over || c.Remaining <= 0
	k := CardKey{Band: c.Band, Width: w, Over: over}
	if over {
		return k
	}
	k.Seconds = secs
	k.Urgency = UrgencyFor(c.Remaining)
	k.Animated = k.Urgency.Animated() && !c.Static
	if !c.Deadline.IsZero() {
		d := c.Deadline.UTC()
		k.Seconds = int64(d.Hour()*3600 + d.Minute()*60 + d.Second())
		k.Animated = false
		k.Label = LabelDeadline
		if k.Urgency > UrgencyNormal {
			k.Label = LabelDeadlineUrgent
		}
	}
	return k
}

// Image is an encoded picture ready to attach or serve.
type Image struct {
	// Data holds the encoded bytes. Images returned by a [Renderer] share
	// Data with its cache: callers must not modify it.
	Data []byte
	// ContentType is "image/png" or "image/gif".
	ContentType string
	// Name is a suggested attachment file name, such as "timer.gif".
	Name string
}

// Content types of the images this package produces.
const (
	ContentTypePNG = "image/png"
	ContentTypeGIF = "image/gif"
)

// RenderTimer draws and encodes the timer card c, without caching: a PNG
// (Name "timer.png") for calm clocks, game over and Static cards, an
// animated GIF (Name "timer.gif") when the urgency is alert or higher.
// It fails, wrapping ErrInvalidInput, when c.Band is not one of the six
// bands. It is safe for concurrent use.
func RenderTimer(c TimerCard) (Image, error) {
	return renderKey(c.Key())
}

func renderKey(k CardKey) (Image, error) {
	if !k.Band.Valid() {
		return Image{}, fmt.Errorf("render timer card: band %d: %w", int(k.Band), ErrInvalidInput)
	}
	if k.Animated {
		data, err := renderTimerGIF(k)
		if err != nil {
			return Image{}, fmt.Errorf("render animated timer card: %w", err)
		}
		return Image{Data: data, ContentType: ContentTypeGIF, Name: "timer.gif"}, nil
	}
	data, err := renderTimerPNG(k)
	if err != nil {
		return Image{}, fmt.Errorf("render timer card: %w", err)
	}
	return Image{Data: data, ContentType: ContentTypePNG, Name: "timer.png"}, nil
}
