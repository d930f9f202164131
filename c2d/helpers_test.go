package c2d

import (
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// testLogger is quiet unless IOTHUB_EMULATOR_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("IOTHUB_EMULATOR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// delivery is one message handed to the fake transport.
type delivery struct {
	deviceID string
	msg      Message
	ack      func()
}

// fakeTransport records deliveries; devices not marked online refuse them.
type fakeTransport struct {
	mu         sync.Mutex
	online     map[string]bool
	deliveries []delivery
	autoAck    bool // acknowledge inside Deliver, as a fast device might
	changed    chan struct{}
}

func newFakeTransport(online ...string) *fakeTransport {
	t := &fakeTransport{online: map[string]bool{}, changed: make(chan struct{}, 1)}
	for _, id := range online {
		t.online[id] = true
	}
	return t
}

var errOffline = errors.New("device offline")

func (t *fakeTransport) Deliver(deviceID string, m Message, ack func()) error {
	t.mu.Lock()
	if !t.online[deviceID] {
		t.mu.Unlock()
		return errOffline
	}
	t.deliveries = append(t.deliveries, delivery{deviceID: deviceID, msg: m, ack: ack})
	auto := t.autoAck
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
	if auto {
		ack()
	}
	return nil
}

func (t *fakeTransport) setOnline(deviceID string, on bool) {
	t.mu.Lock()
	t.online[deviceID] = on
	t.mu.Unlock()
}

func (t *fakeTransport) all() []delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]delivery(nil), t.deliveries...)
}

// bodies lists the delivered bodies of one device, in delivery order.
func (t *fakeTransport) bodies(deviceID string) []string {
	var out []string
	for _, d := range t.all() {
		if d.deviceID == deviceID {
			out = append(out, string(d.msg.Body))
		}
	}
	return out
}

func (t *fakeTransport) last() delivery {
	all := t.all()
	if len(all) == 0 {
		return delivery{}
	}
	return all[len(all)-1]
}

// pendingLog records PendingChanged calls.
type pendingLog struct {
	mu    sync.Mutex
	calls map[string][]int
}

func (p *pendingLog) record(deviceID string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string][]int{}
	}
	p.calls[deviceID] = append(p.calls[deviceID], n)
}

func (p *pendingLog) get(deviceID string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.calls[deviceID]...)
}

// openQueues opens queues with test defaults (an in-memory store and a
// transport with every device offline, unless opts has them), closed at
// cleanup.
func openQueues(t *testing.T, opts Options) *Queues {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	if opts.Transport == nil {
		opts.Transport = newFakeTransport()
	}
	if opts.Store == nil {
		opts.Store = store.OpenMemory()
	}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// openStore opens a bbolt file in dir, checked (if the test left it open)
// and closed at cleanup.
func openStore(t *testing.T, dir string) *store.File {
	t.Helper()
	return storetest.Open(t, filepath.Join(dir, "hub.db"))
}

// records returns the keys of a bucket.
func keys(t *testing.T, s *store.File, bucket string) []string {
	t.Helper()
	var out []string
	if err := s.ForEach(bucket, func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantCode(t *testing.T, err error, code errcode.Code) {
	t.Helper()
	if !errcode.Is(err, code) {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func text(s string) Message { return Message{Body: []byte(s)} }

// newFakeClock is the manual clock these tests move.
func newFakeClock() *testkit.Clock { return testkit.NewClock() }
