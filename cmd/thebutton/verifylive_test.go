package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/commands"
	"github.com/thebutton-game/thebutton/projector/mysqlproj/mysqltest"
	"github.com/thebutton-game/thebutton/projector/redisproj"
	"github.com/thebutton-game/thebutton/projector/redisproj/redistest"
)

// `thebutton verify` on a service under load compares both projections at
// a consistent point while the projectors keep applying: it finishes
// clean, takes no lease (no projector stands by), and the Redis position
// moves on while it runs. A key changed behind the projector's back is
// found the same way.
func TestVerifyLiveUnderLoad(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb, "live")
	dsn := mysqltest.DSN(t)
	natsAddr := opsFreeAddr(t)
	sv := opsStartService(t, map[string]string{
		"REDIS_URL": redistest.URL(), "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn, "NATS_LISTEN": natsAddr,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []string
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for i := range 4 {
		g, err := sv.h.StartGame(ctx, commands.StartGame{Guild: "1", Channel: fmt.Sprint(10 + i), By: "2",
			Duration: time.Hour, Cooldown: 0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.Game.String())
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				_, err := sv.h.Press(ctx, commands.Press{Game: g.Game, Guild: "1", User: fmt.Sprint(100 + n%40),
					Interaction: fmt.Sprintf("g%d-%d", i, n)})
				if err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	reader := redisproj.NewReader(rdb, prefix)
	opsWaitFor(t, 30*time.Second, "a few thousand presses projected", func() bool {
		pos, err := reader.Position(ctx)
		return err == nil && pos > 3000
	})

	verify := func() (int, string, uint64, uint64) {
		before, _ := reader.Position(ctx)
		var out syncBuffer
		code := Main(ctx, []string{"verify"}, &out, &out, env(map[string]string{
			"NATS_URL": "nats://" + natsAddr, "REDIS_URL": redistest.URL(), "REDIS_PREFIX": prefix, "MYSQL_DSN": dsn,
		}))
		after, _ := reader.Position(ctx)
		return code, out.String(), before, after
	}
	for range 2 {
		start := time.Now()
		code, out, before, after := verify()
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("verify under load exited %d:\n%s", code, out)
		}
		if !strings.Contains(out, "match the stream") || !strings.Contains(out, "verified a live snapshot") {
			t.Fatalf("verify did not compare live snapshots:\n%s", out)
		}
		if strings.Contains(out, "lease") {
			t.Errorf("verify took a lease:\n%s", out)
		}
		if after <= before {
			t.Errorf("the Redis projection did not move while verify ran (position %d, then %d)", before, after)
		}
		t.Logf("verify under load: %s, Redis position %d → %d while it ran", took.Round(time.Millisecond), before, after)
	}

	// A view changed behind the projector's back is a difference.
	key := prefix + "{g:" + ids[0] + "}:game"
	if err := rdb.HSet(ctx, key, "tampered", "1").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, _, _ := verify()
	if code != 1 || !strings.Contains(out, "tampered") {
		t.Errorf("verify with a tampered key exited %d, want 1 naming the field:\n%s", code, out)
	}
	t.Logf("%d presses accepted during the test", accepted.Load())
}
