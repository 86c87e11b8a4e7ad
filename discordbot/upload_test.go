package discordbot

import (
	"context"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/imaging"
)

// uploadRun replays the updater's picture decisions second by second over
// [from, to) of remaining time on a clock of duration, with presses at the
// given remaining times (each puts the clock back to full), and returns the
// bytes and the number of timer pictures uploaded, the first (the picture
// the message has at from) included. With old it follows the
// previous rule instead (a card of the time left, refreshed every period
// while the shown second changed), for comparison.
func uploadRun(t *testing.T, duration, from, to time.Duration, clicksEvery time.Duration, old bool) (bytes, uploads int) {
	t.Helper()
	ctx := context.Background()
	r := imaging.NewRenderer(0)
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	deadline := start.Add(from)
	var lastKey shownKey
	var lastEdit time.Time
	first := true
	period := func(rem time.Duration) time.Duration { // the old Updater.period at EditInterval 2 s
		switch {
		case rem <= time.Minute:
			return 2 * time.Second
		case rem <= 5*time.Minute:
			return 5 * time.Second
		case rem <= 30*time.Minute:
			return 30 * time.Second
		}
		return 5 * time.Minute
	}
	for now := start; now.Sub(start) < from-to; now = now.Add(time.Second) {
		if clicksEvery > 0 && now.Sub(start) > 0 && now.Sub(start)%clicksEvery == 0 {
			deadline = now.Add(duration)
		}
		rem := deadline.Sub(now)
		if rem <= 0 {
			break
		}
		band := events.BandOf(rem.Milliseconds(), duration.Milliseconds())
		var key shownKey
		if old {
			key = shownKey{band: band, urgency: imaging.UrgencyFor(rem), seconds: int64(rem / time.Second), deadline: deadline.UnixMilli()}
			changed := first || key.band != lastKey.band || key.urgency != lastKey.urgency || key.deadline != lastKey.deadline
			if !changed && (now.Sub(lastEdit) < period(rem) || key == lastKey) {
				continue
			}
		} else {
			key = shownKey{band: band, urgency: pictureUrgency(rem), seconds: pictureSeconds(rem), deadline: deadline.UnixMilli()}
			if !first && key == lastKey {
				continue
			}
		}
		var img imaging.Image
		var err error
		v := liveView{DeadlineMS: deadline.UnixMilli(), DurationMS: duration.Milliseconds(), NowMS: now.UnixMilli()}
		if old {
			img, err = r.Timer(ctx, imaging.TimerCard{Band: imaging.Band(band), Remaining: rem})
		} else {
			img, err = timerPicture(ctx, r, v, now)
		}
		if err != nil {
			t.Fatal(err)
		}
		bytes += len(img.Data)
		uploads++
		first, lastKey, lastEdit = false, key, now
	}
	return bytes, uploads
}

// TestTimerUploadBudget measures the bytes of timer pictures uploaded for
// one game (docs/benchmarks.md) and keeps them low: per game-hour on a 12 h
// clock, and in the last 5 minutes.
func TestTimerUploadBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a few hundred pictures")
	}
	cases := []struct {
		name          string
		from, to      time.Duration
		clicks        time.Duration
		budget        int
		duration      time.Duration
		oldComparison bool
	}{
		{"12 h clock, one hour, no press", 11*time.Hour + 30*time.Minute, 10*time.Hour + 30*time.Minute, 0, 60 << 10, 12 * time.Hour, true},
		{"12 h clock, one hour, a press every 5 min", 12 * time.Hour, 11 * time.Hour, 5 * time.Minute, 600 << 10, 12 * time.Hour, true},
		{"12 h clock, the last 5 minutes, no press", 5 * time.Minute, 0, 0, 700 << 10, 12 * time.Hour, true},
	}
	for _, c := range cases {
		b, n := uploadRun(t, c.duration, c.from, c.to, c.clicks, false)
		ob, on := uploadRun(t, c.duration, c.from, c.to, c.clicks, true)
		t.Logf("%s: %d uploads, %d bytes (previous rule: %d uploads, %d bytes)", c.name, n, b, on, ob)
		if b > c.budget {
			t.Errorf("%s: %d bytes uploaded, budget %d", c.name, b, c.budget)
		}
	}
}
