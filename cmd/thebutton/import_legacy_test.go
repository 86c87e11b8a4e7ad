package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/events/natsstore/natstest"
	"github.com/thebutton-game/thebutton/legacy"
	"github.com/thebutton-game/thebutton/legacy/legacytest"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
)

// storedMsg is what "the same stream" compares: subject, payload and
// message id of every message, in stream order.
type storedMsg struct {
	subject, data, msgID string
}

func dumpStream(t *testing.T, js jetstream.JetStream) []storedMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, natsstore.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMsg
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(5000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, storedMsg{m.Subject(), string(m.Data()), m.Headers().Get(jetstream.MsgIDHeader)})
		}
		if batch.Error() != nil || n == 0 {
			t.Fatalf("read stream: %d of %d messages: %v", len(out), info.State.Msgs, batch.Error())
		}
	}
	return out
}

// TestImportLegacyKilledHalfway is the interruption test: the built
// binary imports a fixture (the standard one plus a 50,000-click game) and
// is killed with SIGKILL once 10,000 events are stored; run again, it
// ends with exactly the stream of an uninterrupted import, and a third run
// appends nothing.
func TestImportLegacyKilledHalfway(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill test builds the binary")
	}
	ctx := context.Background()
	now := time.Now().UTC()
	dsn := mysqltest.DSN(t)
	src, _, err := legacy.OpenSource(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	games := append(legacytest.Standard(), legacytest.Game{ID: 7, Guild: 333333333333333333,
		Channel: 333333333333333307, DurationS: 600, CooldownH: 0, Clicks: 50000})
	if err := legacytest.Fill(ctx, src, games, now); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	args := []string{"import-legacy", "--from", dsn, "--old-game", fmt.Sprint(legacytest.OldGame),
		"--old-guild", legacytest.OldGuild, "--old-channel", legacytest.OldChannel}

	// The uninterrupted import.
	whole := natstest.Server(t, "")
	_, wholeJS := natstest.Connect(t, whole)
	var out, errOut bytes.Buffer
	if code := Main(ctx, args, &out, &errOut, env(map[string]string{"NATS_URL": whole.ClientURL()})); code != 0 {
		t.Fatalf("uninterrupted import: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	want := dumpStream(t, wholeJS)
	if len(want) != 52017 {
		t.Fatalf("uninterrupted import stored %d messages, want 52017\n%s", len(want), out.String())
	}

	// The killed one: the binary, killed once 10,000 events are stored
	// (core NATS delivers each stored message to a plain subscriber too).
	cut := natstest.Server(t, "")
	nc, cutJS := natstest.Connect(t, cut)
	var seen atomic.Int64
	halfway := make(chan struct{})
	sub, err := nc.Subscribe("button.>", func(*nats.Msg) {
		if seen.Add(1) == 10000 {
			close(halfway)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "import.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NATS_URL="+cut.ClientURL())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-halfway:
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
	case err := <-exited:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("the import ended (%v) before 10,000 events were stored:\n%s", err, b)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("10,000 events not stored within 2 minutes")
	}
	_ = sub.Unsubscribe()
	s, err := cutJS.Stream(ctx, natsstore.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs >= uint64(len(want)) {
		t.Fatalf("the kill came too late: %d of %d messages stored", info.State.Msgs, len(want))
	}
	t.Logf("killed with %d of %d messages stored", info.State.Msgs, len(want))

	out.Reset()
	errOut.Reset()
	cutEnv := env(map[string]string{"NATS_URL": cut.ClientURL()})
	if code := Main(ctx, args, &out, &errOut, cutEnv); code != 0 {
		t.Fatalf("resumed import: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	got := dumpStream(t, cutJS)
	if len(got) != len(want) {
		t.Fatalf("after the kill and a second run: %d messages, uninterrupted %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d differs:\n got %+v\nwant %+v", i+1, got[i], want[i])
		}
	}

	out.Reset()
	if code := Main(ctx, args, &out, &errOut, cutEnv); code != 0 {
		t.Fatalf("third run: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "events appended 0, already in the stream 52017") {
		t.Errorf("third run:\n%s", out.String())
	}
}

// TestImportLegacyDryRun: the command prints the plan and every anomaly,
// and needs no NATS (none is configured or started).
func TestImportLegacyDryRun(t *testing.T) {
	ctx := context.Background()
	dsn := mysqltest.DSN(t)
	src, _, err := legacy.OpenSource(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := legacytest.Fill(ctx, src, legacytest.Standard(), time.Now()); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"import-legacy", "--from", dsn, "--dry-run", "--examples", "0", "--data-dir", dataDir},
		&out, &errOut, env(nil))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"dry run, nothing written", "events that an import would write: 1613",
		"old_layout_unmapped", "value_not_clock"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "the clock said"); n <= legacy.DefaultExamples {
		t.Errorf("--examples 0 should list every anomaly:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "game #4 from game_sessions 4: guild 111111111111111111") {
		t.Errorf("plan lacks the live game:\n%s", errOut.String())
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("a dry run created %v in the data folder", entries)
	}
	if code := Main(ctx, []string{"import-legacy"}, &out, &errOut, env(nil)); code != 2 {
		t.Errorf("without --from: exit %d, want 2", code)
	}
}
