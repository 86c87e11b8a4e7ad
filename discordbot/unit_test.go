package discordbot

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
)

func TestParsePressID(t *testing.T) {
	tests := []struct {
		id   string
		want events.GameID
		ok   bool
	}{
		{"press:1", 1, true},
		{"press:123456789012345", 123456789012345, true},
		{"press:1234567890123456", 0, false}, // 16 digits
		{"press:0", 0, false},
		{"press:01", 0, false},
		{"press:-1", 0, false},
		{"press:+1", 0, false},
		{"press: 1", 0, false},
		{"press:1a", 0, false},
		{"press:", 0, false},
		{"Press:1", 0, false},
		{"press:1:2", 0, false},
		{"pg:rank:1:-:1", 0, false},
		{"press:" + strings.Repeat("1", 100), 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParsePressID(tt.id)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePressID(%q) = %d, %v; want %d, ok %v", tt.id, got, err, tt.want, tt.ok)
		}
	}
	if id := PressID(42); id != "press:42" {
		t.Errorf("PressID(42) = %q", id)
	}
}

func TestPageIDRoundTripAndForgeries(t *testing.T) {
	refs := []pageRef{
		{View: "rank", Game: 7, Arg: "123456789012345678", Page: 0},
		{View: "clicks", Game: 1, Page: 41},
		{View: "games", Page: 3},
	}
	for _, ref := range refs {
		got, err := parsePageID(ref.id())
		if err != nil {
			t.Fatalf("parsePageID(%q): %v", ref.id(), err)
		}
		if diff := cmp.Diff(ref, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", ref.id(), diff)
		}
		if len(ref.id()) > 100 {
			t.Errorf("%q is longer than Discord allows", ref.id())
		}
	}
	for _, bad := range []string{"pg:noop", "pg:admin:1:-:1", "pg:rank:1:abc:1", "pg:rank:1:-:0", "pg:rank:x:-:1",
		"pg:rank:1:-:1:1", "pg:rank:1:-:" + strings.Repeat("9", 70), "pg:games:0:-:999999999"} {
		if _, err := parsePageID(bad); err == nil {
			t.Errorf("parsePageID(%q) accepted a forged id", bad)
		}
	}
}

func TestDiscordTagsRoundUpLikeTheWait(t *testing.T) {
	if s := stamp(1_700_000_000_999, 'R'); s != "<t:1700000000:R>" {
		t.Errorf("stamp = %q", s)
	}
	if s := readyStamp(1_700_000_000_001, 'R'); s != "<t:1700000001:R>" {
		t.Errorf("readyStamp = %q", s)
	}
	if s := cooldownWait(1_000, 3_601_500); !strings.HasPrefix(s, "**1 h 1 s** left") || !strings.Contains(s, "<t:3602:R>") {
		t.Errorf("cooldownWait = %q", s)
	}
}

func TestParseLegacyMatchesWholeWordsOnly(t *testing.T) {
	tests := []struct {
		msg       string
		name, sub string
		opts      map[string]any
		ok        bool
	}{
		{"check", "check", "", map[string]any{}, true},
		{"  CHECK ", "check", "", map[string]any{}, true},
		{"check this out", "", "", nil, false},
		{"checks", "", "", nil, false},
		{"rankings", "", "", nil, false},
		{"rank", "rank", "", map[string]any{}, true},
		{"rank <@123>", "rank", "", map[string]any{"user": "123"}, true},
		{"myrank <@!456>", "rank", "", map[string]any{"user": "456"}, true},
		{"rank my friends", "", "", nil, false},
		{"l2 7", "leaderboard", "players", map[string]any{"n": int64(7)}, true},
		{"l2 99", "leaderboard", "players", map[string]any{"n": int64(15)}, true},
		{"l1", "leaderboard", "teams", map[string]any{}, true},
		{"clicklist 10 global", "lowest", "", map[string]any{"n": int64(10), "global": true}, true},
		{"clicklist everything", "", "", nil, false},
		{"clickquest march", "quest", "", map[string]any{"month": "march"}, true},
		{"clickquest pizza", "", "", nil, false},
		{"statsg 3", "stats", "game", map[string]any{"game": int64(3)}, true},
		{"timeline", "stats", "timeline", map[string]any{}, true},
		{"sb", "button", "start", map[string]any{}, true},
		{"the button is great", "", "", nil, false},
		{"", "", "", nil, false},
	}
	for _, tt := range tests {
		w, opts, ok := parseLegacy(tt.msg)
		if ok != tt.ok {
			t.Errorf("parseLegacy(%q) ok = %v, want %v", tt.msg, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if w.name != tt.name || w.sub != tt.sub {
			t.Errorf("parseLegacy(%q) = %s %s, want %s %s", tt.msg, w.name, w.sub, tt.name, tt.sub)
		}
		if diff := cmp.Diff(tt.opts, opts); diff != "" {
			t.Errorf("parseLegacy(%q) options (-want +got):\n%s", tt.msg, diff)
		}
	}
}

func TestParseMonth(t *testing.T) {
	now := time.Date(2025, time.April, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Date(2025, time.April, 1, 0, 0, 0, 0, time.UTC), true},
		{"march", time.Date(2025, time.March, 1, 0, 0, 0, 0, time.UTC), true},
		{"Jan", time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC), true},
		{"december", time.Date(2024, time.December, 1, 0, 0, 0, 0, time.UTC), true}, // not come yet: last year
		{"2023-07", time.Date(2023, time.July, 1, 0, 0, 0, 0, time.UTC), true},
		{"ma", time.Time{}, false},
		{"2023-13", time.Time{}, false},
		{"soon", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMonth(tt.in, now)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseMonth(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"12h", 12 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1h 30m", 90 * time.Minute, true},
		{"3", 3 * time.Hour, true},
		{"0.5", 30 * time.Minute, true},
		{"0", 0, true},
		{"-1h", 0, false},
		{"forever", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSpan(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseSpan(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestRefusalsCarryTheirNumbers(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		rej  commands.Rejection
		want []string
	}{
		{"cooldown", commands.Rejection{Reason: commands.ReasonCooldown, WaitMS: 3723_000, ReadyAtMS: 1_700_003_723_000},
			[]string{"1 h 2 min 3 s", "<t:1700003723:R>", "<t:1700003723:T>"}},
		{"sequential", commands.Rejection{Reason: commands.ReasonSequential, PlayersNeeded: 2, Required: 3},
			[]string{"2 more players", "3 other players"}},
		{"game over", commands.Rejection{Reason: commands.ReasonGameOver, Game: 4, DeadlineMS: 1_699_999_000_000},
			[]string{"game #4", "<t:1699999000:R>", "<t:1699999000:T>"}},
		{"game over before the press could be recorded", commands.Rejection{Reason: commands.ReasonGameOver, Game: 4,
			DeadlineMS: 1_699_999_000_000, BeforeEnd: true, PressedMS: 1_699_998_999_900},
			[]string{"00:00:00.100", "game #4", "end was recorded before your press", "<t:1699999000:R>", "<t:1699999000:T>"}},
		{"wrong guild", commands.Rejection{Reason: commands.ReasonWrongGuild}, []string{"another server"}},
		{"banned", commands.Rejection{Reason: commands.ReasonBanned}, []string{"ban list"}},
		{"no such game", commands.Rejection{Reason: commands.ReasonNoSuchGame}, []string{"does not exist"}},
	}
	for _, tt := range tests {
		got := pressRefused(&tt.rej, at)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
	}
}

// A press refused because an admin stopped the game is told so — also one
// that came in before the stop and lost to it — never that the clock ran
// out.
func TestRefusalAfterAnAbortSaysSo(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		rej  commands.Rejection
		want []string
	}{
		{"pressed after the abort", commands.Rejection{Reason: commands.ReasonGameOver, Game: 4, DeadlineMS: 1_699_999_000_000, Aborted: true},
			[]string{"game #4 was stopped by an admin", "<t:1699999000:R>"}},
		{"pressed before the abort, lost to it", commands.Rejection{Reason: commands.ReasonGameOver, Game: 4,
			DeadlineMS: 1_699_999_000_000, Aborted: true, BeforeEnd: true, PressedMS: 1_699_998_999_900},
			[]string{"**00:00:00.100** before an admin stopped game #4", "stop was recorded before your press", "<t:1699999000:R>", "<t:1699999000:T>"}},
	}
	for _, tt := range tests {
		got := pressRefused(&tt.rej, at)
		for _, w := range tt.want {
			if !strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
		for _, not := range []string{"ran out", "Game over", "left, but"} {
			if strings.Contains(got, not) {
				t.Errorf("%s: %q says %q: the clock did not run out", tt.name, got, not)
			}
		}
	}
}

func TestExplanationListsTheSixRanges(t *testing.T) {
	text := explanation(events.GameStarted{Game: 3, DurationMS: 12 * 3600_000, CooldownMS: 3 * 3600_000, Sequential: 2})
	for _, w := range []string{"game #3", "12:00:00", "🔴 **Red** 00:00:00 – 02:00:00", "🟣 **Purple** 10:00:00 – 12:00:00",
		"wait **3 h** before", "2 other players"} {
		if !strings.Contains(text, w) {
			t.Errorf("explanation lacks %q:\n%s", w, text)
		}
	}
	if n := utf8.RuneCountInString(text); n > 2000 {
		t.Errorf("explanation has %d characters", n)
	}
}

func TestFlavourIsStableAndMarksMilestones(t *testing.T) {
	c := events.ButtonClicked{Game: 1, Number: 7, Interaction: "abc", ValueMS: 1000, Band: int(events.Red)}
	if flavour(c, 12*3600_000) != flavour(c, 12*3600_000) {
		t.Error("flavour is not deterministic")
	}
	c.Number = 20
	if got := flavour(c, 12*3600_000); !strings.Contains(got, "20") {
		t.Errorf("10th click flavour %q does not say 20", got)
	}
	for b := range 6 {
		if len(flavourByBand[b]) == 0 {
			t.Errorf("no flavour lines for band %d", b)
		}
	}
}

func TestEmbedsStayWithinDiscordLimits(t *testing.T) {
	long := strings.Repeat("W", 300)
	var entries []rankEntry
	for range 5 {
		entries = append(entries, rankEntry{User: "1", Name: long, N: 123456789, Band: events.Red, ValueMS: 1})
	}
	s := endSummary{Game: 1, Aborted: true, By: "1", Why: strings.Repeat("why ", 200), StartMS: 1, EndMS: 1e12,
		Clicks: 1e9, Players: 1e6, MostActive: entries, Lowest: entries, Claimed: entries}
	embeds := map[string]int{
		"summary":      embedSize(summaryEmbed(s, "end.png")),
		"announcement": embedSize(clickAnnouncement(events.ButtonClicked{Game: 1, Number: 10, User: "1", UserName: long, ValueMS: 1, Band: 0}, 1000)),
		"game":         embedSize(gameEmbed(liveView{Game: 1, DurationMS: 1e9, Last: &lastClick{Name: long}, PublicURL: "https://x"}, "timer.png")),
	}
	for name, n := range embeds {
		if n > 6000 {
			t.Errorf("%s embed has %d characters", name, n)
		}
	}
}

func TestBotDoesNotDependOnStorageClients(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/thebutton-game/thebutton/discordbot").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/redis/go-redis", "github.com/nats-io/nats.go", "database/sql",
			"github.com/go-sql-driver", "github.com/thebutton-game/thebutton/projector"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("discordbot depends on %s", dep)
			}
		}
	}
}

// embedSize counts an embed's characters as Discord does, and returns more
// than 6000 when any single field breaks its own limit.
func embedSize(e *discordgo.MessageEmbed) int {
	n := utf8.RuneCountInString
	bad := n(e.Title) > 256 || n(e.Description) > 4096 || len(e.Fields) > 25
	total := n(e.Title) + n(e.Description)
	for _, f := range e.Fields {
		bad = bad || n(f.Name) > 256 || n(f.Value) > 1024 || f.Value == "" || f.Name == ""
		total += n(f.Name) + n(f.Value)
	}
	if e.Footer != nil {
		bad = bad || n(e.Footer.Text) > 2048
		total += n(e.Footer.Text)
	}
	if bad {
		return 6001
	}
	return total
}

func TestCardNamesTheSettingToAdd(t *testing.T) {
	r := (&Bot{}).cmdCard(request{User: "1", UserName: "Pat", Opts: map[string]any{}})
	for _, want := range []string{"PUBLIC_URL", "-public-url", "HTTP_ADDR"} {
		if !strings.Contains(r.content, want) {
			t.Errorf("/card without web pages: %q lacks %q", r.content, want)
		}
	}
	if h := cmdHelp(false); !strings.Contains(h.embeds[0].Footer.Text, "LEGACY_TEXT_COMMANDS=true") {
		t.Errorf("help without legacy words: footer %q lacks the setting", h.embeds[0].Footer.Text)
	}
}

// An edit is sent again only when it got no answer or a 5xx.
func TestRetryableEdit(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection broken", fmt.Errorf("discord edit answer: %w: %w", errTransport, errors.New("EOF")), true},
		{"502", &APIError{Op: "edit answer", Status: 502}, true},
		{"503", fmt.Errorf("wrapped: %w", &APIError{Op: "edit answer", Status: 503}), true},
		{"404 unknown webhook", &APIError{Op: "edit answer", Status: 404, Code: 10015}, false},
		{"400", &APIError{Op: "edit answer", Status: 400}, false},
		{"our deadline", fmt.Errorf("discord edit answer: %w", context.DeadlineExceeded), false},
		{"encoding", errors.New("discord edit answer: encode: bad"), false},
	}
	for _, tt := range tests {
		if got := retryableEdit(tt.err); got != tt.want {
			t.Errorf("%s: retryableEdit = %v, want %v", tt.name, got, tt.want)
		}
	}
}
