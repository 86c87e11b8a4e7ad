// Package natsstore keeps the events of package events in a NATS JetStream
// stream: it owns the stream's configuration, appends with an expected
// subject sequence and a message id, reads subjects back, and watches new
// events; its Feed is the stream as the read side consumes it (durable
// consumers, range reads, dead letters, the lease bucket: events.Feed).
// JetStream errors are translated here, by code, into the sentinels of
// package events.
//
// It imports events and nats.go's jetstream package (never the legacy
// JetStreamContext) and nothing else of this module.
package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/thebutton-game/thebutton/events"
)

// DefaultStream is the stream's name.
const DefaultStream = "BUTTON"

// Config configures the stream. The zero value is a single-replica stream
// named BUTTON with a two-minute duplicate window.
type Config struct {
	Stream     string
	Replicas   int
	Duplicates time.Duration // the message-id de-duplication window
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	return c
}

// StreamConfig is the configuration Open applies: file storage, no age,
// size or per-subject limits (history is never dropped), deletes and
// purges denied, direct gets allowed. Open also allows atomic batches
// (allow_atomic) where the server has them.
func StreamConfig(c Config) jetstream.StreamConfig {
	c = c.withDefaults()
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "The Button: every accepted decision, one subject per game",
		Subjects:          []string{events.SubjectRoot},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            0,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        c.Duplicates,
		Replicas:          c.Replicas,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
	}
}

// Store appends and reads events. It is safe for concurrent use.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
	batch  bool // the stream takes atomic batches
	// batchGets: the server answers batched direct gets (2.11 or later).
	batchGets bool
}

// Open creates the stream, or updates it to StreamConfig if it exists,
// and returns a store on it. Calling it again with the same configuration
// changes nothing.
//
// On a server that has atomic batch publish (nats-server 2.12 or later) the
// stream allows it, and AppendBatch stores several events of one subject
// in one write; on an older server it is left off and CanBatch is false.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	sc := StreamConfig(cfg)
	batch := serverAtLeast(js.Conn().ConnectedServerVersion(), 2, 12)
	sc.AllowAtomicPublish = batch
	stream, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Stream, err)
	}
	return &Store{js: js, stream: stream, name: cfg.Stream, batch: batch,
		batchGets: serverAtLeast(js.Conn().ConnectedServerVersion(), 2, 11)}, nil
}

// serverAtLeast reports whether version (such as "2.12.1") is at least
// major.minor.
func serverAtLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// CanBatch reports whether AppendBatch can store several events in one
// atomic write (nats-server 2.12 or later); if not, it stores nothing and
// callers append one event at a time.
func (s *Store) CanBatch() bool { return s.batch }

// Batch headers of JetStream's atomic batch publish (ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
	// MaxBatch is the most events AppendBatch takes (the server allows 1,000).
	MaxBatch = 500
)

// AppendBatch stores evs on subject, all or none, in one write, if the
// subject's last sequence is expect, each with its message id (msgIDs[i],
// which must not be empty). It returns the sequence of the last one; they
// are stored one after the other. A lost race, or a message id stored
// before (the batch, or part of it, was stored by an earlier attempt),
// returns an error wrapping events.ErrConflict: the caller reads the
// subject to see what is there. Other errors are as for Append.
func (s *Store) AppendBatch(ctx context.Context, subject string, evs []events.Event, expect uint64, msgIDs []string) (uint64, error) {
	if !s.batch {
		return 0, fmt.Errorf("%w: atomic batch publish needs nats-server 2.12 or later", events.ErrRefused)
	}
	if len(evs) == 0 || len(evs) > MaxBatch || len(msgIDs) != len(evs) {
		return 0, fmt.Errorf("%w: a batch takes 1 to %d events, each with a message id", events.ErrRefused, MaxBatch)
	}
	nc := s.js.Conn()
	id := nuid.Next()
	for i, e := range evs {
		data, err := events.Encode(e)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", events.ErrRefused, err)
		}
		if msgIDs[i] == "" {
			return 0, fmt.Errorf("%w: a batched event needs a message id", events.ErrRefused)
		}
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		msg.Header.Set(HeaderType, e.EventType())
		msg.Header.Set(HeaderVersion, fmt.Sprint(events.Version))
		msg.Header.Set(jetstream.MsgIDHeader, msgIDs[i])
		msg.Header.Set(headerBatchID, id)
		msg.Header.Set(headerBatchSeq, fmt.Sprint(i+1))
		if i == 0 {
			msg.Header.Set(jetstream.ExpectedStreamHeader, s.name)
			msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(expect))
		}
		if i < len(evs)-1 {
			if err := nc.PublishMsg(msg); err != nil {
				return 0, fmt.Errorf("append batch to %s: %w", subject, err)
			}
			continue
		}
		msg.Header.Set(headerBatchCommit, "1")
		reply, err := nc.RequestMsgWithContext(ctx, msg)
		if err != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				err = jetstream.ErrNoStreamResponse
			}
			return 0, fmt.Errorf("append batch to %s: %w", subject, err)
		}
		var ack struct {
			Error    *jetstream.APIError `json:"error,omitempty"`
			Stream   string              `json:"stream"`
			Sequence uint64              `json:"seq"`
			Batch    string              `json:"batch"`
			Count    int                 `json:"count"`
		}
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return 0, fmt.Errorf("append batch to %s: invalid ack: %w", subject, err)
		}
		if ack.Error != nil {
			if ack.Error.ErrorCode == jsErrCodeAtomicDuplicate {
				return 0, fmt.Errorf("append batch to %s: %w: %v", subject, events.ErrConflict, ack.Error)
			}
			return 0, fmt.Errorf("append batch to %s: %w", subject, translateAppend(ack.Error))
		}
		if ack.Batch != id || ack.Count != len(evs) || ack.Sequence == 0 {
			return 0, fmt.Errorf("append batch to %s: ack for batch %q of %d, sent %q of %d", subject, ack.Batch, ack.Count, id, len(evs))
		}
		return ack.Sequence, nil
	}
	return 0, fmt.Errorf("%w: empty batch", events.ErrRefused)
}

// jsErrCodeAtomicDuplicate is JSAtomicPublishContainsDuplicateMessageErr.
const jsErrCodeAtomicDuplicate jetstream.ErrorCode = 10201

// jsErrCodeDuplicateInProcess is JSStreamDuplicateMessageConflict
// ("duplicate message id is in process"): on a cluster, another publish
// with the same message id is proposed and not yet applied — the same
// interaction handled by two instances at once. That one is stored or
// fails; the same append repeated finds out which.
const jsErrCodeDuplicateInProcess jetstream.ErrorCode = 10158

// State returns the stream's message and byte counts, its first and last
// sequences and its subject and consumer counts. Consumers, the list, is
// left empty: Feed.Status fills it.
func (s *Store) State(ctx context.Context) (events.FeedStatus, error) {
	return streamStatus(ctx, s.stream)
}

// LastSeq returns the stream's last sequence (0 while it is empty).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	st, err := s.State(ctx)
	return st.LastSeq, err
}

// Leader returns the name of the server that leads the stream, or "" if
// the stream does not say (no leader elected yet).
func (s *Store) Leader(ctx context.Context) (string, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("stream info: %w", translate(err))
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}

// LastMsgID returns the stream's last sequence and the message id its
// message was appended with ("" if none, or if the stream is empty).
func (s *Store) LastMsgID(ctx context.Context) (seq uint64, msgID string, err error) {
	seq, err = s.LastSeq(ctx)
	if err != nil || seq == 0 {
		return seq, "", err
	}
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return 0, "", fmt.Errorf("read message %d: %w", seq, translate(err))
	}
	return seq, m.Header.Get(jetstream.MsgIDHeader), nil
}

// First returns the first message of subject, or an error wrapping
// events.ErrNotFound if the subject is empty.
func (s *Store) First(ctx context.Context, subject string) (events.Recorded, error) {
	m, err := s.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if err != nil {
		return events.Recorded{}, fmt.Errorf("first message of %s: %w", subject, translate(err))
	}
	return decodeMsg(m.Subject, m.Sequence, m.Time, m.Data), nil
}

// JetStream is the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Name is the stream's name.
func (s *Store) Name() string { return s.name }

// Header names written with every event, so `nats stream view` shows them.
const (
	HeaderType    = "Button-Event-Type"
	HeaderVersion = "Button-Event-Version"
)

// Append stores e on subject if the subject's last sequence is expect (0:
// the subject must be empty). msgID, if not empty, de-duplicates: a second
// append with the same id within the duplicate window stores nothing and
// returns the first one's sequence with duplicate true, whatever expect
// says. A lost race returns an error wrapping events.ErrConflict; any other
// answer of the stream refusing the write wraps events.ErrRefused (nothing
// was stored). Any other error (a timeout, a lost connection, a leader
// election) leaves the outcome unknown: the same append with the same msgID
// tells, as long as the duplicate window has not passed.
func (s *Store) Append(ctx context.Context, subject string, e events.Event, expect uint64, msgID string) (seq uint64, duplicate bool, err error) {
	data, err := events.Encode(e)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", events.ErrRefused, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(HeaderType, e.EventType())
	msg.Header.Set(HeaderVersion, fmt.Sprint(events.Version))
	opts := []jetstream.PublishOpt{
		jetstream.WithExpectStream(s.name),
		jetstream.WithExpectLastSequencePerSubject(expect),
	}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := s.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("append %s to %s: %w", e.EventType(), subject, translateAppend(err))
	}
	return ack.Sequence, ack.Duplicate, nil
}

// translateAppend is translate for a publish: an API error other than a
// conflict, a temporary unavailability (status 503) or the same message id
// in process is a refusal.
func translateAppend(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
			// The server's description is "wrong last sequence: N" (its
			// JSStreamWrongLastSequenceErrF); without a number the caller
			// reads the subject instead.
			var last uint64
			if _, serr := fmt.Sscanf(apiErr.Description, "wrong last sequence: %d", &last); serr == nil {
				return &events.ConflictError{Last: last, Err: err}
			}
			return fmt.Errorf("%w: %v", events.ErrConflict, err)
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w: %v", events.ErrConflict, err)
		case apiErr.Code == 503, apiErr.ErrorCode == jsErrCodeDuplicateInProcess:
			// The outcome is unknown: the same append tells.
			return err
		default:
			return fmt.Errorf("%w: %v", events.ErrRefused, err)
		}
	}
	return err
}

// translate turns JetStream errors callers branch on into events sentinels.
func translate(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w: %v", events.ErrConflict, err)
		case jetstream.JSErrCodeMessageNotFound, jetstream.JSErrCodeStreamNotFound:
			return fmt.Errorf("%w: %v", events.ErrNotFound, err)
		}
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: %v", events.ErrNotFound, err)
	}
	return err
}

func decodeMsg(subject string, seq uint64, t time.Time, data []byte) events.Recorded {
	e, err := events.Decode(data)
	return events.Recorded{Seq: seq, Subject: subject, Event: e, Err: err, Stored: t, Data: data}
}

// Reads a decision depends on go to the stream leader: the stream API's
// message get ($JS.API.STREAM.MSG.GET), which only the leader answers,
// rather than a direct get, which any replica may answer from behind the
// leader. A subject's messages up to the last the leader has may come from
// batched direct gets (a stored message never changes, so any replica's
// copy is right; what a replica lacks is read from the leader), or, on
// servers without them, from a consumer deleted when the read ends.

// msgGetRequest is the stream API's message get request.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message,omitempty"`
}

// Attempts of a read against an unavailable stream (no leader yet, a
// reconnect) are repeated until the caller's context ends.
const (
	attemptTimeout = 2 * time.Second
	retryMin       = 20 * time.Millisecond
	retryMax       = 500 * time.Millisecond
)

// apiPrefix is the JetStream API prefix of the store's context.
func (s *Store) apiPrefix() string {
	o := s.js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// errUnavailable marks a read attempt that may succeed when repeated.
var errUnavailable = errors.New("stream unavailable")

// leaderGet asks the stream leader for one message, repeating while the
// stream cannot answer, until ctx ends.
func (s *Store) leaderGet(ctx context.Context, req msgGetRequest) (events.Recorded, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return events.Recorded{}, err
	}
	subj := s.apiPrefix() + "STREAM.MSG.GET." + s.name
	var last error
	for wait := retryMin; ; wait = min(2*wait, retryMax) {
		rec, err := s.leaderGetOnce(ctx, subj, body)
		if err == nil || !errors.Is(err, errUnavailable) {
			return rec, err
		}
		last = err
		if err := sleepCtx(ctx, wait); err != nil {
			return events.Recorded{}, fmt.Errorf("%w (last attempt: %v)", err, last)
		}
	}
}

func (s *Store) leaderGetOnce(ctx context.Context, subj string, body []byte) (events.Recorded, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	reply, err := s.js.Conn().RequestWithContext(actx, subj, body)
	if err != nil {
		if ctx.Err() != nil {
			return events.Recorded{}, ctx.Err()
		}
		// A timeout, no responders (no leader yet), a reconnect.
		return events.Recorded{}, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return events.Recorded{}, fmt.Errorf("message get: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.Code == 503 {
			return events.Recorded{}, fmt.Errorf("%w: %v", errUnavailable, resp.Error)
		}
		return events.Recorded{}, translate(resp.Error)
	}
	if resp.Message == nil {
		return events.Recorded{}, fmt.Errorf("message get: empty answer")
	}
	m := resp.Message
	return decodeMsg(m.Subject, m.Sequence, m.Time, m.Data), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Last returns the last message of subject, as the stream leader has it,
// or an error wrapping events.ErrNotFound if the subject is empty.
func (s *Store) Last(ctx context.Context, subject string) (events.Recorded, error) {
	r, err := s.leaderGet(ctx, msgGetRequest{LastFor: subject})
	if err != nil {
		return events.Recorded{}, fmt.Errorf("last message of %s: %w", subject, err)
	}
	return r, nil
}

// shortWalk is how many messages Load fetches one by one before it opens a
// consumer instead: a catch-up after a conflict is usually one or two.
const shortWalk = 8

// Load returns the messages of subject with a sequence above after, in
// order, up to the subject's last message at the time of the call as the
// stream leader has it. Every step is bounded by ctx.
func (s *Store) Load(ctx context.Context, subject string, after uint64) ([]events.Recorded, error) {
	last, err := s.leaderGet(ctx, msgGetRequest{LastFor: subject})
	if errors.Is(err, events.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", subject, err)
	}
	if last.Seq <= after {
		return nil, nil
	}
	var out []events.Recorded
	next := after + 1
	if s.batchGets && last.Seq > next {
		// One request per ten thousand messages, no consumer. Messages
		// never change once stored, so any replica's copy is right; what
		// a replica behind the leader does not have yet is read below.
		err := s.directRange(ctx, subject, next, last.Seq, func(r events.Recorded) {
			out, next = append(out, r), r.Seq+1
		})
		if next > last.Seq {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("load %s: %w (%v)", subject, ctx.Err(), err)
		}
	}
	for range shortWalk {
		if next == last.Seq {
			return append(out, last), nil
		}
		m, err := s.leaderGet(ctx, msgGetRequest{Seq: next, NextFor: subject})
		if err != nil {
			return nil, fmt.Errorf("load %s from %d: %w", subject, next, err)
		}
		out = append(out, m)
		if m.Seq >= last.Seq {
			return out, nil
		}
		next = m.Seq + 1
	}
	// A consumer placed on a replica behind the leader may see the end
	// before last: read on from where it stopped until last is in.
	for wait := retryMin; ; wait = min(2*wait, retryMax) {
		err = s.Scan(ctx, subject, next, func(r events.Recorded) bool {
			if r.Seq > last.Seq {
				return false
			}
			out = append(out, r)
			next = r.Seq + 1
			return r.Seq < last.Seq
		})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", subject, err)
		}
		if n := len(out); n > 0 && out[n-1].Seq >= last.Seq {
			return out, nil
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, fmt.Errorf("load %s: read ended before sequence %d: %w", subject, last.Seq, err)
		}
	}
}

// Scan calls fn in stream order for the messages on subjects matching
// filter from sequence from on, until fn returns false or every matching
// message stored is read. It reads with one consumer, deleted when Scan
// returns (and, should that fail, removed by the server after a short
// inactivity); a consumer lost to a leader change is replaced, from where
// the read was. Every step is bounded by ctx.
func (s *Store) Scan(ctx context.Context, filter string, from uint64, fn func(events.Recorded) bool) error {
	if from == 0 {
		from = 1
	}
	var cons jetstream.Consumer
	defer func() { s.dropConsumer(ctx, cons) }()
	for wait := retryMin; ; {
		if cons == nil {
			name := "catchup_" + nuid.Next()
			c, err := s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
				Name:              name,
				Description:       "thebutton catch-up read of " + filter + ", deleted after the read",
				FilterSubject:     filter,
				DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:       from,
				AckPolicy:         jetstream.AckNonePolicy,
				InactiveThreshold: scanInactive,
				Replicas:          1,
				MemoryStorage:     true,
			})
			if err != nil {
				// The server may have made it before the answer was lost
				// or the wait was given up (a read stopped at once, like a
				// background read its handler closed): delete it by name
				// rather than leave it to the inactive threshold.
				s.dropName(ctx, name)
				if ctx.Err() != nil {
					return fmt.Errorf("scan %s: %w (last attempt: %v)", filter, ctx.Err(), translate(err))
				}
				if serr := sleepCtx(ctx, wait); serr != nil {
					return fmt.Errorf("scan %s: %w (last attempt: %v)", filter, serr, translate(err))
				}
				wait = min(2*wait, retryMax)
				continue
			}
			cons = c
		}
		fctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		batch, err := cons.Fetch(scanBatch, jetstream.FetchContext(fctx))
		n, done := 0, false
		if err == nil {
			for m := range batch.Messages() {
				md, merr := m.Metadata()
				if merr != nil {
					continue
				}
				n++
				from = md.Sequence.Stream + 1
				if !fn(decodeMsg(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Data())) || md.NumPending == 0 {
					done = true
					break
				}
			}
			err = batch.Error()
		}
		cancel()
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case n > 0 && err != nil:
			// The fetch ended part-way (its time ran out): the consumer
			// may have sent on beyond what arrived, and acknowledges
			// nothing, so a new one goes on from the last message read.
			s.dropConsumer(ctx, cons)
			cons, wait = nil, retryMin
		case n > 0:
			wait = retryMin
		case err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			// Nothing delivered in time: nothing matches from here, or the
			// consumer is gone with its server. Ask, and start over if so.
			info, ierr := cons.Info(ctx)
			if ierr == nil && info.NumPending == 0 {
				return nil
			}
			if ierr != nil {
				s.dropConsumer(ctx, cons)
				cons = nil
			}
		default:
			s.dropConsumer(ctx, cons)
			cons = nil
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
			wait = min(2*wait, retryMax)
		}
	}
}

const (
	scanBatch    = 10000
	scanInactive = 30 * time.Second
)

// dropConsumer deletes a consumer Scan created, within a short bound even
// when ctx has ended.
func (s *Store) dropConsumer(ctx context.Context, cons jetstream.Consumer) {
	if cons != nil {
		s.dropName(ctx, cons.CachedInfo().Name)
	}
}

// dropName deletes the consumer named name, if there is one, within a
// short bound even when ctx has ended.
func (s *Store) dropName(ctx context.Context, name string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	defer cancel()
	_ = s.stream.DeleteConsumer(dctx, name)
}

// Subjects returns every subject matching filter (such as
// events.GameSubjects) with its message count.
func (s *Store) Subjects(ctx context.Context, filter string) (map[string]uint64, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("list subjects %s: %w", filter, translate(err))
	}
	return info.State.Subjects, nil
}

// Watch calls fn, from one goroutine and in stream order, for every
// message on a subject matching filter stored after Watch was called. It
// returns once the watch is set up; the watch ends when ctx is cancelled or
// stop is called. fn must not block for long: it holds up the watch.
func (s *Store) Watch(ctx context.Context, filter string, fn func(events.Recorded)) (stop func(), err error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		// nats consumer ls shows what it is; unique per watch, since an
		// ordered consumer's name is its prefix and a counter from 1, and
		// two watchers of one name would share (and split) one consumer.
		NamePrefix: "handler-watch-" + nuid.Next(),
		// A watch whose delete did not get through (a killed instance, a
		// timeout under load) goes from the server as a scan's does.
		InactiveThreshold: scanInactive,
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", filter, translate(err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			fn(events.Recorded{Subject: m.Subject(), Err: err, Data: m.Data()})
			return
		}
		fn(decodeMsg(m.Subject(), md.Sequence.Stream, md.Timestamp, m.Data()))
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", filter, err)
	}
	// Stopping the watch deletes its consumer rather than leaving it to
	// expire on the server.
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cc.Stop()
			if info := cons.CachedInfo(); info != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
				defer cancel()
				_ = s.stream.DeleteConsumer(dctx, info.Name)
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-cc.Closed():
		}
	}()
	return stop, nil
}

// lastsChunk is how many subjects one batched get asks for: the server
// answers at most 1,024 messages to one multi-subject request.
const lastsChunk = 1000

// lastsWorkers is how many single reads Lasts has in flight where it
// cannot ask for many subjects at once.
const lastsWorkers = 32

// CanGetLasts reports whether Lasts reads the last messages of many
// subjects in one request each (a batched direct get, nats-server 2.11 or
// later); if not, it reads them one by one from the stream leader. Load
// reads with batched direct gets too where the server has them.
func (s *Store) CanGetLasts() bool { return s.batchGets }

// Lasts calls fn, one call at a time, with the last message of each
// subject in subjects that has one; subjects without messages are left
// out. On nats-server 2.11 or later it asks for a thousand subjects per
// request (a batched direct get, which any replica may answer: a replica
// behind the leader gives an older last message; a subject it does not
// have yet, or a batch that fails, is read from the leader); on an older server it reads each
// subject's last message from the stream leader, a few at a time. Every
// step is bounded by ctx.
func (s *Store) Lasts(ctx context.Context, subjects []string, fn func(events.Recorded)) error {
	if !s.batchGets {
		return s.lastsOneByOne(ctx, subjects, fn)
	}
	var missing []string
	for start := 0; start < len(subjects); start += lastsChunk {
		chunk := subjects[start:min(start+lastsChunk, len(subjects))]
		got := make(map[string]bool, len(chunk))
		// Whatever the batch did not bring (it failed, or a replica does
		// not have the subject yet) is read from the leader below.
		if err := s.multiLast(ctx, chunk, func(r events.Recorded) {
			got[r.Subject] = true
			fn(r)
		}); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		for _, subj := range chunk {
			if !got[subj] {
				missing = append(missing, subj)
			}
		}
	}
	return s.lastsOneByOne(ctx, missing, fn)
}

// lastsOneByOne is Lasts with one leader read per subject.
func (s *Store) lastsOneByOne(ctx context.Context, subjects []string, fn func(events.Recorded)) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan string)
	)
	for range min(lastsWorkers, len(subjects)) {
		wg.Go(func() {
			for subj := range next {
				r, err := s.Last(ctx, subj)
				mu.Lock()
				switch {
				case err == nil:
					fn(r)
				case !errors.Is(err, events.ErrNotFound):
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, subj := range subjects {
		select {
		case next <- subj:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// multiLast asks for the last message of each of subjects (at most 1,024)
// in one batched direct get and calls fn for each message of the answer.
func (s *Store) multiLast(ctx context.Context, subjects []string, fn func(events.Recorded)) error {
	return s.directBatch(ctx, struct {
		MultiLast []string `json:"multi_last"`
		Batch     int      `json:"batch"`
	}{subjects, len(subjects)}, fn)
}

// directRange reads subject's messages from sequence from to sequence to
// with batched direct gets, calling fn for each in order. It stops with an
// error wrapping errShort where an answer ends before to (a replica
// behind the leader answered); fn has then had the messages up to there.
func (s *Store) directRange(ctx context.Context, subject string, from, to uint64, fn func(events.Recorded)) error {
	for from <= to {
		got := 0
		err := s.directBatch(ctx, struct {
			Seq     uint64 `json:"seq"`
			NextFor string `json:"next_by_subj"`
			Batch   int    `json:"batch"`
		}{from, subject, int(min(to-from+1, directBatchMax))}, func(r events.Recorded) {
			if r.Seq < from || r.Seq > to {
				return
			}
			fn(r)
			from, got = r.Seq+1, got+1
		})
		if err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("%w: %s from %d", errShort, subject, from)
		}
	}
	return nil
}

// directBatchMax is the most messages one batched direct get of a range
// asks for.
const directBatchMax = 10000

var errShort = errors.New("batched get ended early")

// directBatch sends one batched direct get request and calls fn for each
// message of the answer, until its end (or a "no results" answer).
func (s *Store) directBatch(ctx context.Context, req any, fn func(events.Recorded)) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	nc := s.js.Conn()
	inbox := nc.NewRespInbox()
	// An asynchronous subscription handing over to a small channel: a
	// synchronous one would allocate nats.go's 64k-message channel per call.
	msgs, done := make(chan *nats.Msg, 256), make(chan struct{})
	defer close(done)
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	})
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	if err := nc.PublishRequest(s.apiPrefix()+"DIRECT.GET."+s.name, inbox, body); err != nil {
		return err
	}
	timeout := time.NewTimer(attemptTimeout)
	defer timeout.Stop()
	for {
		var m *nats.Msg
		select {
		case m = <-msgs:
		case <-timeout.C:
			return fmt.Errorf("batched get: %w", context.DeadlineExceeded)
		case <-ctx.Done():
			return fmt.Errorf("batched get: %w", ctx.Err())
		}
		if status := m.Header.Get("Status"); status != "" {
			switch status {
			case "204", "404": // end of the batch; nothing found
				return nil
			}
			return fmt.Errorf("batched get: status %s %s", status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return fmt.Errorf("batched get: message without a sequence: %w", err)
		}
		t, _ := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
		fn(decodeMsg(m.Header.Get(jetstream.SubjectHeader), seq, t, m.Data))
	}
}
