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
	store  store.Store
	max    int
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	appends chan *appendReq
	clears  chan chan error
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
	if opts.Store == nil {
		return nil, errors.New("d2c: Options.Store is required (store.OpenMemory keeps nothing on disk)")
	}
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
		clears:  make(chan chan error),
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
	if err := l.load(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
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
