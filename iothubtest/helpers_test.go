package iothubtest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// wait bounds every wait in these tests.
const wait = 5 * time.Second

// inbox collects what an MQTT client receives.
type inbox struct {
	t  *testing.T
	ch chan paho.Message
}

func newInbox(t *testing.T) *inbox { return &inbox{t: t, ch: make(chan paho.Message, 256)} }

// option makes the inbox the client's default publish handler.
func (in *inbox) option(o *paho.ClientOptions) {
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		select {
		case in.ch <- m:
		default:
			in.t.Errorf("inbox full: dropped %s", m.Topic())
		}
	})
}

// next returns the next message received; its topic must start with prefix.
func (in *inbox) next(prefix string) paho.Message {
	in.t.Helper()
	select {
	case m := <-in.ch:
		if !strings.HasPrefix(m.Topic(), prefix) {
			in.t.Fatalf("received %s %q, want a topic starting %s", m.Topic(), m.Payload(), prefix)
		}
		return m
	case <-time.After(wait):
		in.t.Fatalf("nothing received on %s within %v", prefix, wait)
		return nil
	}
}

// empty fails if anything was received.
func (in *inbox) empty() {
	in.t.Helper()
	select {
	case m := <-in.ch:
		in.t.Fatalf("unexpected message %s %q", m.Topic(), m.Payload())
	default:
	}
}

func subscribe(t *testing.T, c paho.Client, filter string) {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// fakeTB records the failures of a harness helper instead of failing the
// test, so tests can check that helpers fail, and with what message. Any
// testing.TB method not defined here panics when called (the embedded
// interface is nil), which shows a helper calling something unexpected.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return "fake" }

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

// Fatalf records the failure and ends the goroutine, as testing's does.
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

// runFake runs body as a test body with a fakeTB, then its cleanups, and
// returns every failure it reported.
func runFake(t *testing.T, body func(tb testing.TB)) []string {
	t.Helper()
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	select {
	case <-done:
	case <-time.After(4 * wait):
		t.Fatalf("the helper did not return within %v", 4*wait)
	}
	f.mu.Lock()
	cleanups := f.cleanups
	f.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

// mustFail checks that body fails with one message containing every want.
func mustFail(t *testing.T, body func(tb testing.TB), want ...string) {
	t.Helper()
	got := runFake(t, body)
	if len(got) != 1 {
		t.Fatalf("failures = %q, want exactly one", got)
	}
	for _, w := range want {
		if !strings.Contains(got[0], w) {
			t.Errorf("failure %q does not say %q", got[0], w)
		}
	}
}
