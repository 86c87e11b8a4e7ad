package imaging

import (
	"bytes"
	"image/png"
	"os"
	"testing"
	"time"
)

// TestDeadlineCardDoesNotGoStale: a deadline card's key (what it shows)
// does not change as time passes, only with the deadline, band and urgency.
func TestDeadlineCardDoesNotGoStale(t *testing.T) {
	deadline := time.Date(2026, 12, 7, 17, 32, 5, 400e6, time.UTC)
	a := TimerCard{Band: Blue, Remaining: 9 * time.Hour, Deadline: deadline}.Key()
	b := TimerCard{Band: Blue, Remaining: 8*time.Hour + 59*time.Minute, Deadline: deadline}.Key()
	if a != b {
		t.Errorf("the deadline card changed with the time left: %+v vs %+v", a, b)
	}
	if a.Animated || a.Label != LabelDeadline || a.Seconds != 17*3600+32*60+5 {
		t.Errorf("key %+v", a)
	}
	u := TimerCard{Band: Red, Remaining: 20 * time.Minute, Deadline: deadline}.Key()
	if u.Label != LabelDeadlineUrgent || u.Urgency != UrgencyAlert {
		t.Errorf("urgent key %+v", u)
	}
	for _, k := range []TimerCard{{Band: Blue, Remaining: 9 * time.Hour, Deadline: deadline}, {Band: Red, Remaining: 20 * time.Minute, Deadline: deadline}} {
		img, err := RenderTimer(k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(img.Data)); err != nil {
			t.Fatal(err)
		}
		if dir := os.Getenv("COUNTDOWN_FRAMES"); dir != "" {
			_ = os.WriteFile(dir+"/deadline-"+k.Band.String()+".png", img.Data, 0o644)
		}
	}
}
