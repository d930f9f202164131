package d2c

import (
	"bytes"
	"context"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedWriter is an io.Writer safe to read while a stream writes. With a
// gate, every Write waits until the gate is closed.
type gatedWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	gate    chan struct{}
	entered chan struct{}
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func eventIDs(s string) []int64 {
	out := []int64{}
	for _, line := range strings.Split(s, "\n") {
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			n, _ := strconv.ParseInt(id, 10, 64)
			out = append(out, n)
		}
	}
	return out
}

// TestStreamCatchesUpAfterFallingBehind blocks the client while more than
// a subscription's buffer of messages arrives: the log drops the
// subscription, and the stream must resume from the store without losing
// or repeating a message.
func TestStreamCatchesUpAfterFallingBehind(t *testing.T) {
	l := openLog(t, Options{})
	w := newGatedWriter()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- l.Stream(ctx, Filter{FromSequence: l.NextSequenceNumber()}, NewEventWriter(w, nil), 0) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("the stream did not end with its context")
		}
	}
	testkit.EventuallyWithin(t, wait, "the stream to subscribe", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.subs) == 1
	})
	mustAppend(t, l, msg("d", "", "first"))
	select {
	case <-w.entered: // the stream is now stuck writing #1
	case <-time.After(wait):
		close(w.gate)
		stop()
		t.Fatal("the stream did not write")
	}
	const n = subscriberBuffer + 100
	for i := 2; i <= n; i++ {
		mustAppend(t, l, msg("d", "", fmt.Sprint(i)))
	}
	close(w.gate)
	testkit.EventuallyWithin(t, wait, "every message on the stream", func() bool { return len(eventIDs(w.String())) >= n })
	stop()
	if got := eventIDs(w.String()); !slices.Equal(got, seqRange(1, n)) {
		t.Fatalf("stream carried %d events, first %v", len(got), got[:min(5, len(got))])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.subs) != 0 {
		t.Fatalf("%d subscriptions left after the client went away", len(l.subs))
	}
}
