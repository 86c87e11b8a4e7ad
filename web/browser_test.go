package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/events"
	"github.com/thebutton-game/thebutton/web"
)

// mustChromium returns the path of Debian's chromium (CHROMIUM overrides
// it). Without it the browser tests are skipped loudly, or fail when
// CI=true; scripts/chromium installs it.
func mustChromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("headless Chromium is required under CI=true: %v (scripts/chromium installs it)", err)
		}
		t.Skipf("!!! SKIPPED: no Chromium at %s (%v); run scripts/chromium, or CI=true to make this a failure !!!", path, err)
	}
	return path
}

// browser is one headless Chromium tab, with what its pages reported.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // uncaught exceptions, console errors, dialogs
}

// newBrowser starts headless Chromium with a fresh profile and the flags
// a machine without internet needs (no background connections), and
// stops it when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := mustChromium(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var wg sync.WaitGroup // the listeners below; they end with ctx
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		wg.Wait()
	})
	b := &browser{t: t, ctx: ctx}
	// Listen before the first page: exceptions, console errors (CSP
	// violations, failed loads) and dialogs (an alert() would mean an
	// injected script ran).
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	wg.Go(func() {
		for e, err := range exceptions {
			if err != nil {
				return
			}
			d := e.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			b.problem("exception: %s %s at %s:%d", d.Text, desc, d.URL, d.LineNumber+1)
		}
	})
	wg.Go(func() {
		for e, err := range entries {
			if err != nil {
				return
			}
			if e.Entry.Level == cdplog.EntryLevelError {
				b.problem("console %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	wg.Go(func() {
		for e, err := range dialogs {
			if err != nil {
				return
			}
			b.problem("a %s dialog opened: %q", e.Type, e.Message)
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
					return err
				}))
			}()
		}
	})
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// checkProblems fails the test if a page reported anything.
func (b *browser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser: %s", p)
	}
	b.problems = nil
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate every 10 ms for at most d.
func (b *browser) waitFor(expr string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(b.ctx, d+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// screenshot saves the whole page as name.png in WEB_SCREENSHOTS (a temp
// folder if unset) and logs where.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("WEB_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBrowserShowsAPressWithinASecond is issue 6's must-hold: a press made
// through the command handler shows on an open live page within 1 s,
// without a reload, through the real projector loop, Redis and the event
// stream; the page runs its countdown in the band colour, mirrors the one
// classifier, and shows a hostile name as text.
func TestBrowserShowsAPressWithinASecond(t *testing.T) {
	w := newWorld(t, commands.SystemClock{})
	w.runProjector()
	g := w.start(guild1, "9001", 10*time.Minute, 0)
	if err := w.h.SetIcon(w.ctx, commands.SetIcon{Guild: guild1, Icon: "🦉", By: "42"}); err != nil {
		t.Fatal(err)
	}
	w.press(g, guild1, alice, "Alice")
	w.press(g, guild1, carol, "Carol")
	w.waitApplied(5 * time.Second)

	s := web.New(w.reader, web.Options{Poll: 100 * time.Millisecond})
	srv := runServer(t, s)
	b := newBrowser(t)

	card := fmt.Sprintf(`document.querySelector('article[data-game="%d"]')`, g)
	b.do(chromedp.Navigate(srv.URL + "/"))
	if err := b.waitFor(`window.theButton && window.theButton.updates > 0`, 5*time.Second); err != nil {
		t.Fatalf("the live page got no snapshot from /events: %v", err)
	}
	loadedAt := eval[float64](b, `window.theButton.loadedAt`)
	if got := eval[string](b, card+`.querySelector('[data-f="clicks"]').textContent`); got != "2" {
		t.Fatalf("clicks shown before the press: %q, want 2", got)
	}

	// The press, and the page showing it.
	start := time.Now()
	w.press(g, guild1, bob, evilName)
	shown := fmt.Sprintf(`(() => { const c = %s; return c.querySelector('[data-f="clicks"]').textContent === "3" &&
		c.querySelector('[data-f="last-who"]').textContent === %s; })()`, card, js(evilName))
	err := b.waitFor(shown, time.Second)
	elapsed := time.Since(start)
	if err != nil || elapsed > time.Second {
		t.Fatalf("the press was not on the page within 1s (%s): %v", elapsed, err)
	}
	t.Logf("press → page: %s", elapsed)
	if got := eval[float64](b, `window.theButton.loadedAt`); got != loadedAt {
		t.Errorf("the page was reloaded: loadedAt %v, then %v", loadedAt, got)
	}
	if n := eval[int](b, `performance.getEntriesByType('navigation').length`); n != 1 {
		t.Errorf("%d navigations", n)
	}
	// The hostile name is text: nothing of it became markup.
	if n := eval[int](b, `document.querySelectorAll('img[src="x"], script:not([src])').length`); n != 0 {
		t.Errorf("%d injected elements", n)
	}
	if href := eval[string](b, card+`.querySelector('[data-f="last-who"]').getAttribute('href')`); href != "/players/"+bob {
		t.Errorf("last clicker links to %q", href)
	}

	// The countdown ticks in the browser, in the band colour of the time
	// left: just after a press on a 10 min clock, Purple.
	first := eval[string](b, card+`.querySelector('[data-f="countdown"]').textContent`)
	if err := b.waitFor(card+`.querySelector('[data-f="countdown"]').textContent !== `+js(first), 2*time.Second); err != nil {
		t.Errorf("the countdown did not tick from %s: %v", first, err)
	}
	if cls := eval[string](b, card+`.className`); !strings.Contains(cls, "b5") {
		t.Errorf("card class %q, want band 5 (Purple)", cls)
	}

	// A new game appears without a reload, and its colour follows the six
	// sixths of its 3 s clock as it runs down.
	short := w.start(guild2, "9002", 3*time.Second, 0)
	shortCard := fmt.Sprintf(`document.querySelector('article[data-game="%d"]')`, short)
	if err := b.waitFor(shortCard+` !== null`, time.Second); err != nil {
		t.Fatalf("the new game did not appear within 1s: %v", err)
	}
	bands := eval[[]int](b, `new Promise(resolve => {
		const seen = [];
		const id = setInterval(() => {
			const c = `+shortCard+`;
			const m = c && /\bb([0-5])\b/.exec(c.className);
			if (m && seen[seen.length - 1] !== +m[1]) seen.push(+m[1]);
			if (c && c.classList.contains('over')) { clearInterval(id); resolve(seen); }
		}, 20);
	})`)
	if len(bands) < 3 || bands[len(bands)-1] != 0 {
		t.Errorf("bands seen as the 3 s clock ran down: %v, want several of 5…0, ending Red", bands)
	}
	for i := 1; i < len(bands); i++ {
		if bands[i] > bands[i-1] {
			t.Errorf("the band went up as the clock ran down: %v", bands)
		}
	}
	if got := eval[string](b, shortCard+`.querySelector('[data-f="band"]').textContent`); got != "time is up" {
		t.Errorf("the over game says %q", got)
	}
	if got := eval[float64](b, `window.theButton.loadedAt`); got != loadedAt {
		t.Errorf("the page was reloaded")
	}
	b.screenshot("live-after-press")
	b.checkProblems()
}

// TestBrowserClassifierAndFormats: app.js's copy of events.BandOf agrees
// with it at every edge, and its formats with the server's.
func TestBrowserClassifierAndFormats(t *testing.T) {
	w, clock := story(t)
	s := web.New(w.reader, web.Options{Now: clock.Now})
	srv := runServer(t, s)
	b := newBrowser(t)
	b.do(chromedp.Navigate(srv.URL + "/lowest"))

	var cases [][2]int64
	for _, d := range []int64{1, 5, 6, 7, 1000, 59_999, 600_000, 3_600_000, 43_200_000, 7*24*3_600_000 + 13} {
		vs := []int64{-5, 0, 1, d - 1, d, d + 1, 2 * d}
		for _, band := range events.Bands {
			lo, hi := events.BandRange(band, d)
			vs = append(vs, lo-1, lo, lo+1, hi-1, hi)
		}
		for _, v := range vs {
			cases = append(cases, [2]int64{v, d})
		}
	}
	got := eval[[]int](b, `(`+js(cases)+`).map(([v, d]) => window.theButton.bandOf(v, d))`)
	want := make([]int, len(cases))
	for i, c := range cases {
		want[i] = int(events.BandOf(c[0], c[1]))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bandOf in the browser (-events.BandOf +app.js):\n%s", diff)
	}

	durations := []int64{-1, 0, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000, 400*3_600_000 + 61_001}
	type formats struct{ Clock, Value, Span []string }
	var wantF formats
	for _, d := range durations {
		wantF.Clock = append(wantF.Clock, web.FmtClock(d))
		wantF.Value = append(wantF.Value, web.FmtValue(d))
		wantF.Span = append(wantF.Span, web.FmtSpan(d))
	}
	gotF := eval[formats](b, `(() => { const f = window.theButton.format, ds = `+js(durations)+`;
		return {Clock: ds.map(f.clock), Value: ds.map(f.value), Span: ds.map(f.span)}; })()`)
	if diff := cmp.Diff(wantF, gotF); diff != "" {
		t.Errorf("formats (-pages.go +app.js):\n%s", diff)
	}
	b.checkProblems()
}

// TestBrowserPages opens every page, checks the game page follows its
// game live, and takes screenshots to look at.
func TestBrowserPages(t *testing.T) {
	w := newWorld(t, commands.SystemClock{})
	w.runProjector()
	// Two games that started 4h35m ago, with clicks of every colour, the
	// last ones now.
	now := time.Now()
	at := now.Add(-(4*time.Hour + 35*time.Minute))
	g := w.startAt(guild1, "9001", time.Hour, 0, at)
	other := w.startAt(guild2, "9002", 12*time.Hour, 0, at)
	if err := w.h.SetIcon(w.ctx, commands.SetIcon{Guild: guild1, Icon: "🦉", By: "42"}); err != nil {
		t.Fatal(err)
	}
	names := []string{"Alice", "Carol", evilName, "Dave the Long-Named Presser of Buttons", "Eve", "Mallory"}
	// Gaps between clicks on the 1 h clock: 52m left (Purple), 39m
	// (Green), 13m (Orange), 3m30s (Red), 30m (Green), 48m (Blue), 25m
	// (Yellow), 1m (Red), 56m (Purple).
	for i, gap := range []time.Duration{8 * time.Minute, 21 * time.Minute, 47 * time.Minute, 56*time.Minute + 30*time.Second,
		30 * time.Minute, 12 * time.Minute, 35 * time.Minute, 59 * time.Minute, 4 * time.Minute} {
		at = at.Add(gap)
		w.pressAt(g, guild1, fmt.Sprint(501+i%len(names)), names[i%len(names)], at)
		if i%2 == 1 {
			w.pressAt(other, guild2, fmt.Sprint(501+i%len(names)), names[i%len(names)], at)
		}
	}
	for i, name := range names[:3] {
		w.pressAt(g, guild1, fmt.Sprint(501+i), name, now.Add(time.Duration(i)*time.Millisecond))
		w.pressAt(other, guild2, fmt.Sprint(501+i), name, now.Add(time.Duration(i)*time.Millisecond))
	}
	w.waitApplied(5 * time.Second)

	s := web.New(w.reader, web.Options{Poll: 100 * time.Millisecond})
	srv := runServer(t, s)
	b := newBrowser(t)

	b.do(chromedp.Navigate(fmt.Sprintf("%s/games/%d", srv.URL, g)))
	if err := b.waitFor(`window.theButton.updates > 0`, 5*time.Second); err != nil {
		t.Fatalf("the game page got no snapshot: %v", err)
	}
	if ok := eval[bool](b, `document.querySelector('img[data-timer]').naturalWidth > 0`); !ok {
		t.Error("the timer image did not load")
	}
	w.press(g, guild1, "600", "Zed")
	card := fmt.Sprintf(`document.querySelector('article[data-game="%d"]')`, g)
	if err := b.waitFor(card+`.querySelector('[data-f="clicks"]').textContent === "13" && !document.querySelector('[data-notice]').hidden`, time.Second); err != nil {
		t.Errorf("the game page did not follow the press within 1s: %v", err)
	}
	b.screenshot("game")

	for _, p := range []struct{ name, path string }{
		{"live", "/"}, {"lowest", "/lowest"}, {"recent", "/recent"}, {"card", "/players/503"}, {"notfound", "/games/999"},
	} {
		b.do(chromedp.Navigate(srv.URL + p.path))
		if p.name == "live" {
			if err := b.waitFor(`window.theButton.updates > 0`, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('img[src="x"], script:not([src])').length`); n != 0 {
			t.Errorf("%s: %d injected elements", p.path, n)
		}
		b.screenshot(p.name)
	}
	b.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/"))
	if err := b.waitFor(`window.theButton.updates > 0`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	b.screenshot("live-phone")
	// The 404 page logs its status as a console error: that one is expected.
	b.mu.Lock()
	b.problems = filterOut(b.problems, "404")
	b.mu.Unlock()
	b.checkProblems()
}

func filterOut(ps []string, sub string) []string {
	var out []string
	for _, p := range ps {
		if !strings.Contains(p, sub) {
			out = append(out, p)
		}
	}
	return out
}

// TestBrowserShowsCloseCallsToTheMillisecond: a Red click with 398 ms left
// reads 00:00:00.398 on the game page and on /lowest, not 00:00:00.
func TestBrowserShowsCloseCallsToTheMillisecond(t *testing.T) {
	w := newWorld(t, commands.SystemClock{})
	w.runProjector()
	start := time.Now().Add(-20 * time.Second)
	g := w.startAt(guild1, "9003", 10*time.Second, 0, start)
	c := w.pressAt(g, guild1, "777", "Daredevil", start.Add(10*time.Second-398*time.Millisecond))
	if c.ValueMS != 398 || events.Band(c.Band) != events.Red {
		t.Fatalf("click value %d ms, band %d", c.ValueMS, c.Band)
	}
	w.waitApplied(5 * time.Second)
	srv := runServer(t, web.New(w.reader, web.Options{Poll: 100 * time.Millisecond}))
	b := newBrowser(t)
	for _, path := range []string{fmt.Sprintf("/games/%d", g), "/lowest", "/players/777"} {
		b.do(chromedp.Navigate(srv.URL + path))
		if err := b.waitFor(`document.body.innerText.includes("00:00:00.398")`, 3*time.Second); err != nil {
			t.Errorf("%s does not show the close call 00:00:00.398: %v\n%s", path, err, eval[string](b, `document.body.innerText`))
		}
	}
	b.checkProblems()
}
