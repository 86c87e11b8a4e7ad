package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thebutton-game/thebutton/events"
)

// StartGame starts a game in a button channel, numbered one above the
// highest game known. At most one active game may occupy a channel, also
// when starts race in several handlers: a start first claims the channel
// (an append with the channel subject's expected sequence) with the game's
// opening event inside the claim, then appends that event on the game's
// empty subject. Whoever finds a claim whose game does not exist yet
// completes that start itself, so two starts can never both pass one
// channel. A claim whose game number went to another channel, or whose game
// has ended, does not hold the channel. A channel whose game is past its
// deadline is freed by ending that game at its deadline first.
func (h *Handler) StartGame(ctx context.Context, s StartGame) (events.GameStarted, error) {
	if s.At.IsZero() {
		s.At = h.clock.Now()
	}
	s, rej := validateStart(s)
	if rej != nil {
		return events.GameStarted{}, rej
	}
	for range maxAttempts {
		claimSeq, busy, err := h.channelOccupant(ctx, s.Channel)
		if err != nil {
			return events.GameStarted{}, fmt.Errorf("start game: %w", err)
		}
		if busy != 0 {
			over, deadline, err := h.Expire(ctx, busy)
			if err != nil {
				return events.GameStarted{}, fmt.Errorf("start game: %w", err)
			}
			if !over {
				return events.GameStarted{}, &Rejection{Reason: ReasonChannelBusy, ActiveGame: busy, DeadlineMS: deadline}
			}
			continue // ended at its deadline: the channel is free now
		}
		started, err := h.claimAndStart(ctx, s, claimSeq)
		if errors.Is(err, events.ErrConflict) {
			h.conflicts.Add(1)
			continue
		}
		return started, err
	}
	return events.GameStarted{}, ErrContention
}

// channelOccupant returns the channel subject's last sequence and the game
// that holds the channel, 0 if none does. A claim whose game has not
// started yet is completed here first.
func (h *Handler) channelOccupant(ctx context.Context, channel string) (uint64, events.GameID, error) {
	last, err := h.store.Last(ctx, events.ChannelSubject(channel))
	if errors.Is(err, events.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	claim, ok := last.Event.(events.ChannelClaimed)
	if !ok {
		return last.Seq, 0, nil // not a claim (malformed): holds nothing
	}
	g, exists, err := h.Game(ctx, claim.Game)
	if err != nil {
		return 0, 0, err
	}
	if !exists && claim.Start != nil {
		// A start in progress (or whose starter died): finish it.
		if _, err := h.appendStart(ctx, *claim.Start); err != nil && !errors.Is(err, events.ErrConflict) {
			return 0, 0, err
		}
		if g, exists, err = h.Game(ctx, claim.Game); err != nil {
			return 0, 0, err
		}
	}
	if exists && g.Active() && g.Started.ButtonChannel == channel {
		return last.Seq, claim.Game, nil
	}
	return last.Seq, 0, nil
}

// claimAndStart claims the channel for a new game number and starts the
// game. If another channel's start took the number, it claims the next
// one. An error wrapping events.ErrConflict means the channel claim was
// lost.
func (h *Handler) claimAndStart(ctx context.Context, s StartGame, claimSeq uint64) (events.GameStarted, error) {
	id := events.GameID(h.maxGame.Load() + 1)
	for range maxAttempts {
		at := ms(s.At)
		started := events.GameStarted{
			Game: id, Guild: s.Guild, ButtonChannel: s.Channel, ChatChannel: s.ChatChannel,
			DurationMS: s.Duration.Milliseconds(), CooldownMS: s.Cooldown.Milliseconds(),
			Sequential: s.Sequential, StartedBy: s.By, StarterName: s.ByName, AtMS: at,
		}
		seq, err := h.claim(ctx, started, claimSeq)
		if err != nil {
			return events.GameStarted{}, err
		}
		claimSeq = seq
		ok, err := h.appendStart(ctx, started)
		if err != nil && !errors.Is(err, events.ErrConflict) {
			return events.GameStarted{}, err
		}
		if ok {
			return started, nil
		}
		// Game #id exists: our own start completed by a rival who found our
		// claim, or another channel's game that took the number.
		g, exists, err := h.Game(ctx, id)
		if err != nil {
			return events.GameStarted{}, err
		}
		if exists && g.Started == started {
			return started, nil
		}
		h.conflicts.Add(1)
		h.raiseMaxGame(id)
		id = events.GameID(h.maxGame.Load() + 1)
	}
	return events.GameStarted{}, ErrContention
}

// claim appends the channel's claim for started if the channel subject's
// last sequence is claimSeq. A claim whose outcome is unknown is repeated
// (same message id) until known; if the place turns out taken, the claim
// there may be this one, stored by the attempt whose answer was lost
// (the repeat's expected sequence is refused before its id is looked up):
// then it counts as stored.
func (h *Handler) claim(ctx context.Context, started events.GameStarted, claimSeq uint64) (uint64, error) {
	subject := events.ChannelSubject(started.ButtonChannel)
	seq, _, unknown, err := h.appendKnown(ctx, subject, events.ChannelClaimed{
		Channel: started.ButtonChannel, Guild: started.Guild, Game: started.Game, AtMS: started.AtMS, Start: &started,
	}, claimSeq, newMsgID())
	if !unknown || !errors.Is(err, events.ErrConflict) {
		return seq, err
	}
	last, lerr := h.store.Last(ctx, subject)
	if lerr != nil {
		return 0, fmt.Errorf("%w: claim of %s: %v", ErrOutcomeUnknown, subject, lerr)
	}
	if c, ok := last.Event.(events.ChannelClaimed); ok && c.Start != nil && *c.Start == started {
		return last.Seq, nil
	}
	return 0, err
}

// appendStart appends a game's opening event on its empty subject. It
// reports false with an error wrapping events.ErrConflict if the subject
// is not empty. The message id names the claim's start, so a repeat after
// an unknown outcome, or a rival completing the same claim, finds it
// stored (duplicate) rather than failing.
func (h *Handler) appendStart(ctx context.Context, started events.GameStarted) (bool, error) {
	subject := events.GameSubject(started.Game)
	msgID := fmt.Sprintf("start-%d-%s-%s-%d", started.Game, started.ButtonChannel, started.StartedBy, started.AtMS)
	seq, dup, _, err := h.appendKnown(ctx, subject, started, 0, msgID)
	if err != nil {
		return false, err
	}
	e := h.entry(started.Game)
	e.mu.Lock()
	defer h.release(e)
	if dup {
		// Stored before, by an earlier attempt or a rival: read it back.
		return true, h.catchUp(ctx, e, subject)
	}
	h.applyGame(e, events.Recorded{Seq: seq, Subject: subject, Event: started})
	e.fresh = true
	return true, nil
}

// SetIcon sets the guild's icon for the cross-guild ranking.
func (h *Handler) SetIcon(ctx context.Context, c SetIcon) error {
	if !events.ValidIcon(c.Icon) {
		return &Rejection{Reason: ReasonInvalid, Detail: "the icon must be one of the allowed icons"}
	}
	return h.appendGuild(ctx, c.Guild, c.By, c.At, func(g *events.Guild, at int64) (events.Event, error) {
		if g.Icon == c.Icon {
			return nil, nil
		}
		return events.GuildIconSet{Guild: c.Guild, Icon: c.Icon, By: c.By, AtMS: at}, nil
	})
}

// Ban puts a player on the guild's ban list. Banning a banned player
// records nothing.
func (h *Handler) Ban(ctx context.Context, c Ban) error {
	if !events.ValidID(c.User) {
		return &Rejection{Reason: ReasonInvalid, Detail: "the player must be a Discord id"}
	}
	return h.appendGuild(ctx, c.Guild, c.By, c.At, func(g *events.Guild, at int64) (events.Event, error) {
		if g.IsBanned(c.User) {
			return nil, nil
		}
		return events.PlayerBanned{Guild: c.Guild, User: c.User, By: c.By, Reason: clip(c.Reason, events.MaxReasonLen), AtMS: at}, nil
	})
}

// Unban takes a player off the guild's ban list; a player who is not on it
// is refused with ReasonNotBanned.
func (h *Handler) Unban(ctx context.Context, c Unban) error {
	if !events.ValidID(c.User) {
		return &Rejection{Reason: ReasonInvalid, Detail: "the player must be a Discord id"}
	}
	return h.appendGuild(ctx, c.Guild, c.By, c.At, func(g *events.Guild, at int64) (events.Event, error) {
		if !g.IsBanned(c.User) {
			return nil, &Rejection{Reason: ReasonNotBanned}
		}
		return events.PlayerUnbanned{Guild: c.Guild, User: c.User, By: c.By, AtMS: at}, nil
	})
}

// GuildLastSeq returns the stream sequence of a guild's latest event (its
// bans, its icon; 0 if none): the views show the guild as it is now once
// they have applied it.
func (h *Handler) GuildLastSeq(ctx context.Context, guild string) (uint64, error) {
	var seq uint64
	err := h.withGuild(ctx, guild, time.Time{}, func(e *guildEntry) error {
		seq = e.g.LastSeq
		return nil
	})
	return seq, err
}

func (h *Handler) appendGuild(ctx context.Context, guild, by string, t time.Time, decide func(*events.Guild, int64) (events.Event, error)) error {
	if !events.ValidID(guild) || !events.ValidID(by) {
		return &Rejection{Reason: ReasonInvalid, Detail: "guild and admin must be Discord ids"}
	}
	if t.IsZero() {
		t = h.clock.Now()
	}
	at := ms(t)
	subject := events.GuildSubject(guild)
	return h.withGuild(ctx, guild, time.Time{}, func(e *guildEntry) error {
		// As for games: an append whose outcome is unknown is repeated, same
		// id, until known (past the caller's context, within outcomeWait).
		detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
		defer cancel()
		for range maxAttempts {
			ev, err := decide(&e.g, at)
			if err != nil || ev == nil {
				return err
			}
			id, expect := newMsgID(), e.g.LastSeq
			actx, acancel := context.WithTimeout(ctx, attemptTimeout)
			seq, _, err := h.store.Append(actx, subject, ev, expect, id)
			acancel()
			if err != nil && !errors.Is(err, events.ErrConflict) && !errors.Is(err, events.ErrRefused) {
				ctx = detached
				h.log.Warn("append outcome unknown, repeating it", "subject", subject, "expect", expect, "msg_id", id, "err", err)
				seq, _, err = h.resolve(ctx, subject, ev, expect, id, err)
				if err != nil && !errors.Is(err, events.ErrConflict) {
					e.fresh = false
				}
			}
			if errors.Is(err, events.ErrConflict) {
				h.conflicts.Add(1)
				if err := h.catchUpGuild(ctx, e, guild); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("update guild %s: %w", guild, err)
			}
			h.applyGuild(e, events.Recorded{Seq: seq, Subject: subject, Event: ev})
			return nil
		}
		return ErrContention
	})
}
