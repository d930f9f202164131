package c2d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// IoT Hub's defaults.
const (
	DefaultMaxPending       = 50
	DefaultTTL              = time.Hour
	DefaultMaxDeliveryCount = 10
	DefaultLockTimeout      = time.Minute
	DefaultFeedbackTTL      = time.Hour
)

// Options configure the queues. Zero values take IoT Hub's defaults.
type Options struct {
	Store            store.Store // required; store.OpenMemory keeps nothing on disk
	MaxPending       int         // per device; default 50
	DefaultTTL       time.Duration
	MaxDeliveryCount int
	LockTimeout      time.Duration
	FeedbackTTL      time.Duration
	// Transport is how messages reach devices. It is required.
	Transport Transport
	// PendingChanged, if set, is called after a device's pending count
	// changed (enqueue, completion, dead-letter, purge; not DeleteDevice)
	// with the count at the time of the call. Calls for one device do not
	// overlap, changes that race may be reported together, and the last
	// call carries the current count. It runs with no queue lock held and
	// may call any method.
	PendingChanged func(deviceID string, pending int)
	// DeviceGenerationID names the device's current generation in feedback
	// records; nil leaves deviceGenerationId empty. It is called with no
	// queue lock held.
	DeviceGenerationID func(deviceID string) string
	// DeviceExists, if set, is asked again under the device's queue lock
	// before a message is stored, so a send racing the device's deletion
	// (which drops the queue under the same lock, after the device is gone)
	// can never leave a message behind for a later device of the same id.
	DeviceExists func(deviceID string) bool
	Now          func() time.Time
	Logger       *slog.Logger
}

// Transport is how messages reach devices (the lead implements it with the MQTT broker).
type Transport interface {
	// Deliver hands m to the device now; ack is called once when the device completed it (MQTT PUBACK).
	// An error means the device cannot take it now (offline / not subscribed): the message stays queued, its delivery not counted.
	// Deliver is called with no queue lock held (ack may run inside it) and should not block: the scheduler calls it too.
	Deliver(deviceID string, m Message, ack func()) error
}

// Queues holds every device's cloud-to-device queue and the feedback kept
// for the service.
type Queues struct {
	store        store.Store
	maxPending   int
	maxDelivery  int
	defaultTTL   time.Duration
	lockTimeout  time.Duration
	feedbackTTL  time.Duration
	generationID func(string) string
	exists       func(string) bool
	transport    Transport
	onPending    func(deviceID string, pending int) // nil: nobody watches counts
	now          func() time.Time
	log          *slog.Logger

	// ctx ends with Close and stops background work and acknowledgements.
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // wakes the scheduler to look for an earlier deadline
	done   chan struct{} // closed when the scheduler has stopped

	seqMu       sync.Mutex
	seq         int64 // last sequence number handed out (messages and feedback)
	seqReserved int64 // highest number the store knows may have been used

	// fbMu serialises the feedback operations that remove records with
	// receives, so a record is never handed out while it is being deleted.
	fbMu sync.Mutex

	mu       sync.Mutex // guards the fields below; never held during I/O or callbacks
	closed   bool
	devices  map[string]*device
	feedback []*feedbackEntry // in the order the outcomes happened
	batches  map[string]*feedbackBatch
	fbReady  chan struct{} // closed (and replaced) when feedback is added
}

// device is one device's queue. It exists while it holds messages or
// someone uses it (see opLock), so deleted devices, and sends to devices
// that never existed, leave nothing behind.
type device struct {
	id string

	// op serialises the device's persistent changes, so the disk sees
	// memory's order. No caller-supplied function runs while it is held.
	op opLock

	// Guarded by Queues.mu.
	refs    int      // callers of device or lookup that have not yet let go of op
	entries []*entry // enqueue order
	pumping bool     // a delivery loop is running
	rescan  bool     // DeviceReady came while Deliver ran: retry if it refused

	notifying   bool // a PendingChanged report is running
	notifyAgain bool // the count changed meanwhile: report once more
}

// opLock is device.op. Every caller takes the queue with Queues.device or
// Queues.lookup (counted in refs) and then locks and unlocks op, so the
// last Unlock of an empty queue can drop it: nobody else holds it, and a
// later caller gets a fresh one under the same Queues.mu. A queue emptied
// by the last settle is dropped before its count is reported; notifyPending
// then reports 0 through a stand-in. (A caller that looks a queue up and
// then does not lock it, as settle with an empty lock token, only keeps
// that queue from ever being dropped.)
type opLock struct {
	mu sync.Mutex
	q  *Queues
	d  *device
}

func (l *opLock) Lock() { l.mu.Lock() }

func (l *opLock) Unlock() {
	l.mu.Unlock()
	l.q.mu.Lock()
	defer l.q.mu.Unlock()
	l.d.refs--
	l.q.dropIfUnused(l.d)
}

func (q *Queues) newDevice(deviceID string) *device {
	d := &device{id: deviceID}
	d.op.q, d.op.d = q, d
	return d
}

// dropIfUnused forgets an empty queue nobody uses; q.mu is held. A delivery
// loop (pump) may still hold it: it finds nothing to deliver and ends.
func (q *Queues) dropIfUnused(d *device) {
	if d.refs == 0 && len(d.entries) == 0 && !d.notifying && q.devices[d.id] == d {
		delete(q.devices, d.id)
	}
}

// entry is one queued message and its lock.
type entry struct {
	msg         Message // DeliveryCount counts the current delivery; LockToken is kept empty
	lockToken   string  // "" while visible
	lockedUntil time.Time
}

// deadline is when the entry next needs the scheduler: its lock running
// out, or its expiry while visible.
func (e *entry) deadline() time.Time {
	if e.lockToken != "" {
		return e.lockedUntil
	}
	return e.msg.ExpiryTime
}

// snapshot is the message as callers see it, with the lock token if locked.
func (e *entry) snapshot() Message {
	m := e.msg.clone()
	m.LockToken = e.lockToken
	return m
}

func errClosed() error {
	return errcode.New(errcode.ServiceUnavailable, "The cloud-to-device queues are shut down.")
}

// Open loads the queues from opts.Store and starts the scheduler that
// expires messages, locks and feedback.
func Open(opts Options) (*Queues, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queues{
		store:        opts.Store,
		maxPending:   orDefault(opts.MaxPending, DefaultMaxPending),
		maxDelivery:  orDefault(opts.MaxDeliveryCount, DefaultMaxDeliveryCount),
		defaultTTL:   orDefault(opts.DefaultTTL, DefaultTTL),
		lockTimeout:  orDefault(opts.LockTimeout, DefaultLockTimeout),
		feedbackTTL:  orDefault(opts.FeedbackTTL, DefaultFeedbackTTL),
		generationID: opts.DeviceGenerationID,
		transport:    opts.Transport,
		onPending:    opts.PendingChanged,
		exists:       opts.DeviceExists,
		now:          opts.Now,
		log:          opts.Logger,
		ctx:          ctx,
		cancel:       cancel,
		kick:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		devices:      make(map[string]*device),
		batches:      make(map[string]*feedbackBatch),
		fbReady:      make(chan struct{}),
	}
	if q.now == nil {
		q.now = time.Now
	}
	if q.log == nil {
		q.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := q.load(); err != nil {
		cancel()
		return nil, fmt.Errorf("c2d: %w", err)
	}
	// load fills queues through device without locking them: nobody
	// holds them yet.
	for _, d := range q.devices {
		d.refs = 0
	}
	go q.run()
	return q, nil
}

func (o Options) check() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("c2d: Options.Store is required (store.OpenMemory keeps nothing on disk)"))
	}
	if o.Transport == nil {
		errs = append(errs, errors.New("c2d: Options.Transport is required"))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxPending", int64(o.MaxPending)},
		{"DefaultTTL", int64(o.DefaultTTL)},
		{"MaxDeliveryCount", int64(o.MaxDeliveryCount)},
		{"LockTimeout", int64(o.LockTimeout)},
		{"FeedbackTTL", int64(o.FeedbackTTL)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("c2d: %s must not be negative", f.name))
		}
	}
	return errors.Join(errs...)
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Pending returns how many messages of the device are neither completed nor
// dead-lettered: IoT Hub's cloudToDeviceMessageCount.
func (q *Queues) Pending(deviceID string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d := q.devices[deviceID]; d != nil {
		return len(d.entries)
	}
	return 0
}

// Messages returns the device's pending messages in enqueue order; a locked
// one carries its LockToken.
func (q *Queues) Messages(deviceID string) []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.devices[deviceID]
	if d == nil {
		return []Message{}
	}
	out := make([]Message, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, e.snapshot())
	}
	return out
}

// Close stops the scheduler and deliveries; later calls fail with
// ServiceUnavailable. It does not close the store.
func (q *Queues) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	<-q.done
	return nil
}

// device returns the queue of deviceID, creating it; the caller then locks
// and unlocks its op. A queue is not dropped while a caller holds it, so
// every caller serialises on the same device.op.
func (q *Queues) device(deviceID string) *device {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.devices[deviceID]
	if d == nil {
		d = q.newDevice(deviceID)
		q.devices[deviceID] = d
	}
	d.refs++
	return d
}

// lookup returns the queue of deviceID or nil; a caller given a queue then
// locks and unlocks its op, as with device.
func (q *Queues) lookup(deviceID string) *device {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.devices[deviceID]
	if d != nil {
		d.refs++
	}
	return d
}

func (q *Queues) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// notifyPending reports the device's pending count to PendingChanged.
// One caller at a time runs the reports of a device, reading the count
// afresh each time; a caller that finds one running leaves it a note to
// report again and returns. So reports never overlap, the last one carries
// the current count, and fn may call back into the queues without
// deadlock.
func (q *Queues) notifyPending(deviceID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.onPending == nil {
		return
	}
	d := q.devices[deviceID]
	if d == nil {
		// Dropped as it emptied: the count is 0, and a stand-in orders
		// this report with any a new message brings meanwhile.
		d = q.newDevice(deviceID)
		q.devices[deviceID] = d
	}
	if d.notifying {
		d.notifyAgain = true
		return
	}
	d.notifying = true
	for {
		fn, n := q.onPending, len(d.entries)
		d.notifyAgain = false
		q.mu.Unlock()
		fn(deviceID, n)
		q.mu.Lock()
		if !d.notifyAgain {
			break
		}
	}
	d.notifying = false
	q.dropIfUnused(d)
}

// wake asks the scheduler to recompute its next deadline.
func (q *Queues) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// nextSeq hands out the next sequence number. Numbers are reserved in
// blocks whose upper bound is written before any is used, so a restart
// never reuses a number even when its records are gone.
func (q *Queues) nextSeq(ctx context.Context) (int64, error) {
	q.seqMu.Lock()
	defer q.seqMu.Unlock()
	if q.seq >= q.seqReserved {
		next := q.seqReserved + seqBlock
		if err := q.store.Apply(ctx, sequenceOp(next)); err != nil {
			return 0, fmt.Errorf("c2d: reserve sequence numbers: %w", err)
		}
		q.seqReserved = next
	}
	q.seq++
	return q.seq, nil
}

// apply commits ops durably (nothing to do for no ops).
func (q *Queues) apply(ctx context.Context, ops []store.Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := q.store.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("c2d: persist: %w", err)
	}
	return nil
}
