package d2c

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

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
	Store       store.Store   // required; store.OpenMemory keeps nothing on disk
	MaxMessages int           // retention by count (default 10000)
	MaxAge      time.Duration // retention by age (default 24h)
	// Partitions is the Event Hubs-compatible partition count, 1 to
	// MaxPartitions (0: DefaultPartitions). A store written with another
	// count is renumbered on Open (see load.go).
	Partitions int
	// ConsumerGroups are the consumer groups besides $Default, checked with
	// CheckConsumerGroupName.
	ConsumerGroups []string
	Now            func() time.Time
	Logger         *slog.Logger
}

// Log is the hub's bounded, persisted device-to-cloud message log.
//
// One writer assigns sequence numbers, applies retention, commits and
// publishes, one batch at a time, so messages become durable and visible
// strictly in sequence order, and retention never races an append. The
// writer is a store.Batcher: appends that arrive while a batch is being
// committed go out together in the next one. (The store groups commits too,
// but across unrelated writers and in no order the log could rely on:
// numbering, retention and publication must follow one sequence, so the log
// forms its own batches and hands each to the store as one Apply.)
type Log struct {
	store  store.Store
	max    int
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	writer    *store.Batcher[*writeReq]
	stop      chan struct{} // closed by Close, stops the sweeper
	sweepDone chan struct{}
	once      sync.Once

	// Owned by the writer (and Open before it starts).
	nextSeq  int64     // the next sequence number to assign
	lastTime time.Time // the latest EnqueuedTime given, so times never go back

	parts  []*partition // fixed at Open; their fields say who owns them
	groups []string     // consumer groups, $Default first

	// mu is a read-write lock so that partition cursors, which only read,
	// do not queue behind one another.
	mu      sync.RWMutex
	msgs    *ring // committed messages; written by the writer under mu
	lastSeq int64 // highest committed sequence number
	changed chan struct{}
	subs    map[*subscriber]struct{}
	closed  bool

	// parked, if set, is called each time a Wait goes (back) to waiting,
	// having found nothing; tests set it before the first Wait.
	parked func()
}

// writeReq is one request to the writer: append a message, clear the log
// or sweep out old messages. The writer reports the outcome in it.
type writeReq struct {
	kind  writeKind
	msg   Message // appendMsg: the message, then as stored if reply
	reply bool    // appendMsg: the caller wants the stored message back
	err   error
}

type writeKind int

const (
	appendMsg writeKind = iota
	clearAll
	sweepOld
)

type subscriber struct {
	f  Filter
	ch chan Message
}

// Open loads what the store holds, applying retention, and starts the log.
func Open(opts Options) (*Log, error) {
	if opts.Store == nil {
		return nil, errors.New("d2c: Options.Store is required (store.OpenMemory keeps nothing on disk)")
	}
	if opts.MaxMessages < 0 {
		return nil, fmt.Errorf("d2c: MaxMessages %d is negative", opts.MaxMessages)
	}
	if opts.MaxAge < 0 {
		return nil, fmt.Errorf("d2c: MaxAge %v is negative", opts.MaxAge)
	}
	nparts, err := checkPartitions(opts.Partitions)
	if err != nil {
		return nil, err
	}
	groups, err := ConsumerGroupNames(opts.ConsumerGroups)
	if err != nil {
		return nil, fmt.Errorf("d2c: %w", err)
	}
	l := &Log{
		groups:    groups,
		store:     opts.Store,
		max:       opts.MaxMessages,
		maxAge:    opts.MaxAge,
		now:       opts.Now,
		log:       opts.Logger,
		stop:      make(chan struct{}),
		sweepDone: make(chan struct{}),
		changed:   make(chan struct{}),
		subs:      make(map[*subscriber]struct{}),
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
	l.parts = make([]*partition, nparts)
	for i := range l.parts {
		l.parts[i] = &partition{msgs: newRing(l.max), changed: make(chan struct{})}
	}
	l.nextSeq = 1
	if err := l.load(); err != nil {
		return nil, err
	}
	l.writer = store.NewBatcher(maxBatch, l.write)
	go l.sweep()
	return l, nil
}

// Close stops the writer and the age sweeper, ends every subscription and
// wakes every Wait. Appends already handed to the writer finish first. The
// store is the caller's to close, after this.
func (l *Log) Close() error {
	l.once.Do(func() {
		close(l.stop)
		l.writer.Close()
		<-l.sweepDone
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		for s := range l.subs {
			l.dropLocked(s)
		}
		close(l.changed)
		for _, p := range l.parts {
			close(p.changed)
		}
	})
	return nil
}

// isClosed reports whether Close has run.
func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}
