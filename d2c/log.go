package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Defaults and bounds.
const (
	DefaultMaxMessages = 10000
	DefaultMaxAge      = 24 * time.Hour
	// DefaultMaxCount is how many messages a read returns when not told.
	DefaultMaxCount = 100
	// maxBatch bounds the messages that go out in one store transaction.
	maxBatch = 256
	// subscriberBuffer is how far a subscriber may fall behind before it is dropped.
	subscriberBuffer = 256
)

// ErrClosed is returned by Append and Wait once the log is closed.
var ErrClosed = errors.New("d2c: log closed")

// Options configure a Log.
type Options struct {
	Store       *store.Store  // nil: memory only
	MaxMessages int           // retention by count (default 10000)
	MaxAge      time.Duration // retention by age (default 24h)
	Now         func() time.Time
	Logger      *slog.Logger
}

// Log is the hub's bounded, persisted device-to-cloud message log.
//
// One goroutine (the writer) assigns sequence numbers and commits, so
// messages become durable and visible strictly in sequence order, and
// retention never races an append. Appends that arrive while a commit is in
// flight go out together in the next one.
type Log struct {
	store  *store.Store
	max    int
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	appends chan *appendReq
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// Owned by the writer goroutine (and Open before it starts).
	nextSeq  int64     // the next sequence number to assign
	lastTime time.Time // the latest EnqueuedTime given, so times never go back

	mu      sync.Mutex
	msgs    *ring // committed messages; written by the writer under mu
	lastSeq int64 // highest committed sequence number
	changed chan struct{}
	subs    map[*subscriber]struct{}
	closed  bool
}

type appendReq struct {
	msg  Message
	done chan appendResult
}

type appendResult struct {
	msg Message
	err error
}

type subscriber struct {
	f  Filter
	ch chan Message
}

// Open loads what the store holds, applying retention, and starts the log.
func Open(opts Options) (*Log, error) {
	if opts.MaxMessages < 0 {
		return nil, fmt.Errorf("d2c: MaxMessages %d is negative", opts.MaxMessages)
	}
	if opts.MaxAge < 0 {
		return nil, fmt.Errorf("d2c: MaxAge %v is negative", opts.MaxAge)
	}
	l := &Log{
		store:   opts.Store,
		max:     opts.MaxMessages,
		maxAge:  opts.MaxAge,
		now:     opts.Now,
		log:     opts.Logger,
		appends: make(chan *appendReq),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
	}
	if l.max == 0 {
		l.max = DefaultMaxMessages
	}
	if l.maxAge == 0 {
		l.maxAge = DefaultMaxAge
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l.msgs = newRing(l.max)
	l.nextSeq = 1
	if l.store != nil {
		if err := l.load(); err != nil {
			return nil, err
		}
	}
	go l.run()
	return l, nil
}

// Append assigns m its SequenceNumber and EnqueuedTime, stamps the hub's
// system properties, persists it, then makes it visible. It returns once the
// message is durable and visible to Read. The caller's maps and body are
// copied, never kept.
func (l *Log) Append(ctx context.Context, m Message) (Message, error) {
	if m.DeviceID == "" {
		return Message{}, errcode.New(errcode.ArgumentNull, "A device-to-cloud message needs the id of the device that sent it.")
	}
	if n := m.Size(); n > MaxMessageSize {
		return Message{}, errcode.New(errcode.MessageTooLarge, "The message is %d bytes; the limit is %d.", n, MaxMessageSize)
	}
	m = m.clone()
	if m.Body == nil {
		m.Body = []byte{}
	}
	if m.SystemProperties == nil {
		m.SystemProperties = map[string]string{}
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	req := &appendReq{msg: m, done: make(chan appendResult, 1)}
	select {
	case l.appends <- req:
	case <-l.stop:
		return Message{}, ErrClosed
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
	// Once handed over the message commits or fails as a whole; waiting for
	// the outcome (not ctx) keeps "returned" meaning "durable".
	res := <-req.done
	return res.msg, res.err
}

// Read returns up to max messages matching f, oldest first (max <= 0 means
// DefaultMaxCount), and the sequence number to ask for next time: after the
// last message returned when there may be more, else after the newest
// message the log holds (so a filtered reader does not rescan what did not
// match), and never less than f.FromSequence. Messages older than MaxAge are
// not returned even if the sweeper has not deleted them yet.
func (l *Log) Read(f Filter, max int) (msgs []Message, next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readLocked(f, max)
}

func (l *Log) readLocked(f Filter, limit int) ([]Message, int64) {
	if limit <= 0 {
		limit = DefaultMaxCount
	}
	r := l.msgs
	start := r.search(func(m *Message) bool { return m.SequenceNumber >= f.FromSequence })
	// Messages older than MaxAge may still wait for the sweeper; hide them.
	from := l.now().Add(-l.maxAge)
	if f.FromTime.After(from) {
		from = f.FromTime
	}
	start = max(start, r.search(func(m *Message) bool { return !m.EnqueuedTime.Before(from) }))
	out := []Message{}
	for i := start; i < r.len(); i++ {
		m := r.at(i)
		if !f.Matches(*m) {
			continue
		}
		out = append(out, m.clone())
		if len(out) == limit {
			return out, m.SequenceNumber + 1
		}
	}
	return out, max(l.lastSeq+1, f.FromSequence)
}

// NextSequenceNumber is the sequence number the next message will have, as
// far as readers are concerned: one past the newest committed message.
func (l *Log) NextSequenceNumber() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq + 1
}

// Wait is Read as a long poll: it returns as soon as at least one message
// matches, or when ctx ends (then an empty slice, no error). Once the log is
// closed it returns ErrClosed instead of waiting.
func (l *Log) Wait(ctx context.Context, f Filter, max int) ([]Message, int64, error) {
	for {
		l.mu.Lock()
		msgs, next := l.readLocked(f, max)
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if len(msgs) > 0 {
			return msgs, next, nil
		}
		if closed {
			return msgs, next, ErrClosed
		}
		// Everything before next has been looked at; only newer messages can match.
		f.FromSequence = next
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, next, nil
		}
	}
}

// Subscribe returns a live feed of the messages appended from now on that
// match f, in sequence order. A subscriber that falls more than a few
// hundred messages behind is dropped: its channel is closed, and Append
// never waits for it. cancel ends the subscription and closes the channel;
// calling it more than once is harmless. Close ends every subscription.
func (l *Log) Subscribe(f Filter) (msgs <-chan Message, cancel func()) {
	s := &subscriber{f: f, ch: make(chan Message, subscriberBuffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	l.subs[s] = struct{}{}
	return s.ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.dropLocked(s)
	}
}

func (l *Log) dropLocked(s *subscriber) {
	if _, ok := l.subs[s]; ok {
		delete(l.subs, s)
		close(s.ch)
	}
}

// Close stops the writer and the age sweeper, ends every subscription and
// wakes every Wait. Appends already handed to the writer finish first. The
// store is the caller's to close, after this.
func (l *Log) Close() error {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		for s := range l.subs {
			l.dropLocked(s)
		}
		close(l.changed)
	})
	return nil
}

// isClosed reports whether Close has run.
func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// run is the writer: it commits appends in batches and sweeps out messages
// older than MaxAge.
func (l *Log) run() {
	defer close(l.done)
	sweep := time.NewTicker(sweepInterval(l.maxAge))
	defer sweep.Stop()
	for {
		select {
		case first := <-l.appends:
			batch := []*appendReq{first}
		drain:
			for len(batch) < maxBatch {
				select {
				case r := <-l.appends:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			l.commit(batch)
		case <-sweep.C:
			l.expire()
		case <-l.stop:
			return
		}
	}
}

// sweepInterval checks ages often enough that nothing outlives MaxAge by
// more than a tenth, and not more often than needed.
func sweepInterval(maxAge time.Duration) time.Duration {
	return min(max(maxAge/10, 10*time.Millisecond), time.Minute)
}

// clock returns the enqueued time for a new batch: UTC, in milliseconds like
// IoT Hub's, and never before the previous one, so the log is ordered by
// time as well as by sequence number even if the wall clock steps back.
func (l *Log) clock() time.Time {
	t := l.now().UTC().Truncate(time.Millisecond)
	if t.Before(l.lastTime) {
		t = l.lastTime
	}
	l.lastTime = t
	return t
}

// expiredCount is how many of the oldest messages are older than MaxAge at now.
func (l *Log) expiredCount(now time.Time) int {
	cutoff := now.Add(-l.maxAge)
	return l.msgs.search(func(m *Message) bool { return !m.EnqueuedTime.Before(cutoff) })
}

// commit gives the batch its sequence numbers and time, writes it together
// with the deletions retention asks for in one transaction, and only then
// makes it visible.
func (l *Log) commit(batch []*appendReq) {
	now := l.clock()
	msgs := make([]Message, len(batch))
	for i, r := range batch {
		m := r.msg
		m.SequenceNumber = l.nextSeq
		l.nextSeq++ // consumed even if the commit fails: a number is never given twice
		m.EnqueuedTime = now
		m.SystemProperties[PropConnectionDeviceID] = m.DeviceID
		if m.ModuleID != "" {
			m.SystemProperties[PropConnectionModuleID] = m.ModuleID
		} else {
			delete(m.SystemProperties, PropConnectionModuleID)
		}
		m.SystemProperties[PropEnqueuedTime] = now.Format(enqueuedTimeLayout)
		if m.SystemProperties[PropMessageSource] == "" {
			m.SystemProperties[PropMessageSource] = "Telemetry"
		}
		msgs[i] = m
	}

	// Retention: what is too old goes, then the oldest beyond MaxMessages;
	// if the batch alone exceeds MaxMessages its own oldest are never stored.
	held := l.msgs.len()
	dropOld := l.expiredCount(now)
	overflow := max(0, held-dropOld+len(msgs)-l.max)
	fromOld := min(overflow, held-dropOld)
	dropOld += fromOld
	skipNew := overflow - fromOld
	kept := msgs[skipNew:]

	err := l.persist(dropOld, kept, msgs[len(msgs)-1].SequenceNumber)
	if err != nil {
		l.log.Error("device-to-cloud messages not stored", "count", len(msgs), "err", err)
		for _, r := range batch {
			r.done <- appendResult{err: err}
		}
		return
	}

	l.mu.Lock()
	for range dropOld {
		l.msgs.popFront()
	}
	for _, m := range kept {
		l.msgs.push(m)
	}
	l.lastSeq = msgs[len(msgs)-1].SequenceNumber
	for _, m := range msgs {
		l.publishLocked(m)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()

	for i, r := range batch {
		r.done <- appendResult{msg: msgs[i].clone()}
	}
	l.log.Debug("device-to-cloud messages stored", "count", len(msgs), "last", msgs[len(msgs)-1].SequenceNumber, "dropped", dropOld+skipNew)
}

// persist writes kept, deletes the dropOld oldest messages held and records
// lastSeq, in one transaction.
func (l *Log) persist(dropOld int, kept []Message, lastSeq int64) error {
	if l.store == nil {
		return nil
	}
	ops := make([]store.Op, 0, dropOld+len(kept)+1)
	for i := range dropOld {
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: seqKey(l.msgs.at(i).SequenceNumber)})
	}
	for _, m := range kept {
		v, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("d2c: encode message %d: %w", m.SequenceNumber, err)
		}
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: seqKey(m.SequenceNumber), Value: v})
	}
	ops = append(ops, metaOp(lastSeq))
	if err := l.store.Apply(context.Background(), ops...); err != nil {
		return fmt.Errorf("d2c: store messages: %w", err)
	}
	return nil
}

// publishLocked hands m to every subscriber it matches, dropping those whose
// buffer is full rather than waiting for them.
func (l *Log) publishLocked(m Message) {
	for s := range l.subs {
		if !s.f.Matches(m) {
			continue
		}
		select {
		case s.ch <- m.clone():
		default:
			l.log.Warn("device-to-cloud subscriber dropped: it fell behind", "sequenceNumber", m.SequenceNumber)
			l.dropLocked(s)
		}
	}
}

// expire deletes the messages older than MaxAge.
func (l *Log) expire() {
	n := l.expiredCount(l.now())
	if n == 0 {
		return
	}
	if l.store != nil {
		ops := make([]store.Op, n)
		for i := range n {
			ops[i] = store.Op{Bucket: store.Telemetry, Key: seqKey(l.msgs.at(i).SequenceNumber)}
		}
		if err := l.store.Apply(context.Background(), ops...); err != nil {
			l.log.Error("expired device-to-cloud messages not deleted", "count", n, "err", err)
			return
		}
	}
	l.mu.Lock()
	for range n {
		l.msgs.popFront()
	}
	l.mu.Unlock()
	l.log.Debug("expired device-to-cloud messages deleted", "count", n)
}
