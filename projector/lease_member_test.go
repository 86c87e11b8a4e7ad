package projector_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/thebutton-game/thebutton/events/natsstore"
	"github.com/thebutton-game/thebutton/projector"
)

func TestMemberNameIsStablePerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	a, b := projector.MemberName(dir), projector.MemberName(filepath.Join(dir, ".", ""))
	if a != b || a == "" {
		t.Errorf("MemberName(%q) = %q, then %q: want one stable name", dir, a, b)
	}
	if other := projector.MemberName(filepath.Join(dir, "other")); other == a {
		t.Errorf("two data directories share the member name %q", a)
	}
}

// A member that died without releasing its lease (SIGKILL: the lease is
// neither renewed nor released) and starts again under its stable name
// takes the lease back at once, not after the lease TTL.
func TestRestartUnderTheSameNameTakesTheLeaseBackAtOnce(t *testing.T) {
	e := newEnv(t)
	sink := newMemSink("mem")
	o := fastOptions(t)
	o.Lease.TTL = time.Minute // a standby would wait this long
	o.Lease.Holder = projector.MemberName(t.TempDir())
	nc, js := e.connect()
	stop := run(t, projector.New(natsstore.NewFeed(js, natsstore.DefaultStream), sink, o))
	first := e.publish(50)
	eventually(t, 10*time.Second, func() bool { return sink.position() == first }, func() string { return "not caught up" })
	nc.Close() // dies holding the lease
	stop()

	_, js2 := e.connect()
	restarted := time.Now()
	run(t, projector.New(natsstore.NewFeed(js2, natsstore.DefaultStream), sink, o))
	second := e.publish(50)
	eventually(t, 10*time.Second, func() bool { return sink.position() == second }, func() string { return "the restarted member did not resume" })
	if took := time.Since(restarted); took > 10*time.Second {
		t.Errorf("resumed after %v", took)
	}
	checkExact(t, sink, 1, second)
}
