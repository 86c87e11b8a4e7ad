// Package commands decides what players and admins ask for and appends the
// decisions as events: start a game, press its button, abort it, record
// its Discord message, set a guild's icon and ban list. It also owns the
// timekeeper, which ends every game at exactly its deadline.
//
// Decisions are pure functions of a game's folded state, the request and
// one time stamp (decide.go). The Handler keeps each game's state in
// memory, caught up from the event store, and appends with the subject's
// expected last sequence, so a stale state can never approve anything and
// any number of handlers may run at once. It imports events and the
// standard library only; the store is an interface declared here.
package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// Store is the event store the handler appends to and reads from;
// natsstore.Store implements it. Implementations are safe for concurrent use.
type Store interface {
	// Append stores e on subject if the subject's last sequence is expect
	// (0: empty). A lost race returns an error wrapping events.ErrConflict.
	// A repeated msgID within the store's window stores nothing and
	// returns the original sequence with duplicate true.
	Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (seq uint64, duplicate bool, err error)
	// Load returns the subject's messages after sequence after, in order.
	Load(ctx context.Context, subject string, after uint64) ([]events.Recorded, error)
	// Last returns the subject's last message, or events.ErrNotFound.
	Last(ctx context.Context, subject string) (events.Recorded, error)
	// Lasts calls fn, one call at a time, with the last message of each of
	// subjects that has one. A message may be older than the subject's
	// last on the stream leader (a replica behind it answered), never
	// newer.
	Lasts(ctx context.Context, subjects []string, fn func(events.Recorded)) error
	// Subjects lists the subjects matching filter with their message counts.
	Subjects(ctx context.Context, filter string) (map[string]uint64, error)
	// Scan calls fn in stream order for the messages on subjects matching
	// filter from sequence from on, until fn returns false or every
	// matching message stored is read; it leaves nothing behind.
	Scan(ctx context.Context, filter string, from uint64, fn func(events.Recorded) bool) error
	// Watch calls fn in stream order for every message stored after the
	// call on a subject matching filter, until ctx ends or stop is called.
	Watch(ctx context.Context, filter string, fn func(events.Recorded)) (stop func(), err error)
}

// Clock is the one source of time. Tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed (at once if
	// d ≤ 0) unless the returned timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	Stop() bool
}

// SystemClock is the machine's clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Reason names why a request was refused.
type Reason string

// Reasons for a refusal. Press reasons come in GAME-RULES §3 order.
const (
	ReasonNoSuchGame  Reason = "no_such_game"
	ReasonWrongGuild  Reason = "wrong_guild"
	ReasonGameOver    Reason = "game_over"
	ReasonBanned      Reason = "banned"
	ReasonCooldown    Reason = "cooldown"
	ReasonSequential  Reason = "sequential"
	ReasonChannelBusy Reason = "channel_busy"
	ReasonNotBanned   Reason = "not_banned"
	ReasonInvalid     Reason = "invalid"
)

// Rejection is a refusal with what the player or admin must be told. It is
// returned as an error; use errors.As to read it.
type Rejection struct {
	Reason Reason
	Game   events.GameID
	// DeadlineMS is the game's deadline (game over: when it ended or will).
	DeadlineMS int64
	// Aborted: game over because an admin stopped the game (at
	// DeadlineMS), not because its clock ran out.
	Aborted bool
	// BeforeEnd: game over although the press was received before the
	// game ended (at DeadlineMS: the clock ran out, or an admin stopped
	// it), because the end was recorded before the press could be (a
	// press slower to reach the store than EndMargin, or one on another
	// instance still on its way when an abort was recorded). PressedMS is
	// when the press was received.
	BeforeEnd bool
	PressedMS int64
	// ReadyAtMS and WaitMS: when the player may press again and how long
	// that is from the press (cooldown).
	ReadyAtMS int64
	WaitMS    int64
	// PlayersNeeded is how many more distinct other players must click
	// first (sequential rule); Required is the game's N.
	PlayersNeeded int
	Required      int
	// ActiveGame is the game occupying the channel (channel busy).
	ActiveGame events.GameID
	// Detail explains invalid input.
	Detail string
}

func (r *Rejection) Error() string {
	switch r.Reason {
	case ReasonCooldown:
		return fmt.Sprintf("refused: cooldown, %s left", time.Duration(r.WaitMS)*time.Millisecond)
	case ReasonSequential:
		return fmt.Sprintf("refused: %d more players must click first", r.PlayersNeeded)
	case ReasonChannelBusy:
		return fmt.Sprintf("refused: game %d is active in this channel", r.ActiveGame)
	case ReasonInvalid:
		return "refused: " + r.Detail
	}
	return "refused: " + string(r.Reason)
}

// AsRejection returns the rejection inside err, if any.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

// ErrContention means a request lost its optimistic race too many times in
// a row; nothing was recorded and the caller may try again.
var ErrContention = errors.New("commands: too much contention, nothing recorded")

// ErrShed means a press was still waiting for its game at its
// Press.DecideBy (queued behind other presses, or behind a slow store): its
// decision never started and nothing was recorded; the player may press
// again. A press whose decision started is never shed.
var ErrShed = errors.New("commands: press not decided in time, nothing recorded")

// ErrOutcomeUnknown means a request's append could not be confirmed or
// ruled out within the handler's bound (the store stayed unreachable): it
// may or may not have been recorded. It is never returned for an append
// that is known not to be stored, nor for one that is known to be.
var ErrOutcomeUnknown = errors.New("commands: outcome unknown, the store could not be reached to confirm")

func ms(t time.Time) int64 { return t.UnixMilli() }

// Press is a player pressing a game's button.
type Press struct {
	Game     events.GameID
	Guild    string // the guild the press came from
	User     string
	UserName string
	// Interaction is the Discord interaction id: the same one never counts
	// twice.
	Interaction string
	// At is when the service received the press: the press's only time.
	// Zero means now.
	At time.Time
	// DecideBy, if not zero, is the latest instant (the machine's clock,
	// as time.Now gives it, not the handler's Clock) at which the press's
	// decision may start: a press still waiting for its game then is shed
	// (ErrShed, nothing recorded). Once its decision started, a press is
	// decided, stored and answered however long its append takes. The bot
	// sets it so that a press is decided only while the player can still
	// be told its outcome.
	DecideBy time.Time
}

// StartGame starts a game in a button channel.
type StartGame struct {
	Guild       string
	Channel     string // the button channel
	ChatChannel string // where clicks are announced; empty: Channel
	By          string
	ByName      string
	Duration    time.Duration // 0: DefaultDuration
	Cooldown    time.Duration // negative: DefaultCooldown; 0 is no cooldown
	Sequential  int
	At          time.Time
}

// Defaults of GAME-RULES §1.
const (
	DefaultDuration = 12 * time.Hour
	DefaultCooldown = 3 * time.Hour
	MinDuration     = time.Second
)

// Abort stops an active game; who and why are recorded.
type Abort struct {
	Game   events.GameID
	Guild  string
	By     string
	Reason string
	At     time.Time
}

// PostMessage records the Discord message that shows a game.
type PostMessage struct {
	Game      events.GameID
	Channel   string
	MessageID string
	At        time.Time
}

// SetIcon sets the guild's icon, one of events.Icons.
type SetIcon struct {
	Guild, Icon, By string
	At              time.Time
}

// Ban puts a player on the guild's ban list; Unban takes them off.
type Ban struct {
	Guild, User, By, Reason string
	At                      time.Time
}

// Unban takes a player off the guild's ban list.
type Unban struct {
	Guild, User, By string
	At              time.Time
}
