package d2c

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type sseEvent struct {
	id, event, data string
	comment         string // set for a comment line
}

// openStream connects to the event stream; the events arrive on the
// returned channel, which closes when the stream ends.
func openStream(t *testing.T, url string, header http.Header) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-cache" {
		cancel()
		resp.Body.Close()
		t.Fatalf("stream answered %d %v", resp.StatusCode, resp.Header)
	}
	events := make(chan sseEvent, 1024)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		var ev sseEvent
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64*1024), 2*MaxMessageSize)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				events <- sseEvent{comment: strings.TrimSpace(line[1:])}
			default:
				field, value, _ := strings.Cut(line, ": ")
				switch field {
				case "id":
					ev.id = value
				case "event":
					ev.event = value
				case "data":
					ev.data = value
				default:
					ev.event = "unknown field in " + line // fails nextMessage
				}
			}
		}
	}()
	t.Cleanup(cancel)
	return events
}

// nextMessage returns the next message event, skipping comments.
func nextMessage(t *testing.T, events <-chan sseEvent) MessageView {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.comment != "" {
				continue
			}
			var m MessageView
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatalf("event data: %v: %q", err, ev.data)
			}
			if ev.event != "message" || ev.id != strconv.FormatInt(m.SequenceNumber, 10) {
				t.Fatalf("event %+v", ev)
			}
			return m
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

func nextSeqs(t *testing.T, events <-chan sseEvent, n int) []int64 {
	t.Helper()
	var out []int64
	for range n {
		out = append(out, nextMessage(t, events).SequenceNumber)
	}
	return out
}

func TestStreamFromNow(t *testing.T) {
	l := openLog(t, Options{})
	mustAppend(t, l, msg("d", "", "before"))
	mustAppend(t, l, msg("d", "", "before"))
	base := serve(t, l, HandlerOptions{})
	events := openStream(t, base+"/stream?deviceId=d", nil)
	mustAppend(t, l, msg("d", "", "one"))
	mustAppend(t, l, msg("other", "", "not mine"))
	mustAppend(t, l, msg("d", "m", "two"))
	m := nextMessage(t, events)
	if m.SequenceNumber != 3 || m.BodyText == nil || *m.BodyText != "one" || m.SystemProperties[PropConnectionDeviceID] != "d" {
		t.Fatalf("first event %+v", m)
	}
	if m := nextMessage(t, events); m.SequenceNumber != 5 || m.ModuleID != "m" {
		t.Fatalf("second event %+v", m)
	}
}

func TestStreamReplaysThenFollows(t *testing.T) {
	l := openLog(t, Options{})
	for range 3 {
		mustAppend(t, l, msg("d", "", "stored"))
	}
	base := serve(t, l, HandlerOptions{})
	t.Run("fromSequenceNumber", func(t *testing.T) {
		events := openStream(t, base+"/stream?fromSequenceNumber=2", nil)
		if got := nextSeqs(t, events, 2); !slices.Equal(got, []int64{2, 3}) {
			t.Fatalf("replayed %v", got)
		}
		m := mustAppend(t, l, msg("d", "", "live"))
		if got := nextSeqs(t, events, 1); got[0] != m.SequenceNumber {
			t.Fatalf("live %v, want %d", got, m.SequenceNumber)
		}
	})
	t.Run("Last-Event-ID", func(t *testing.T) {
		events := openStream(t, base+"/stream/", http.Header{"Last-Event-Id": {"2"}})
		if got := nextSeqs(t, events, 2); !slices.Equal(got, []int64{3, 4}) {
			t.Fatalf("resumed %v", got)
		}
	})
	t.Run("fromEnqueuedTime", func(t *testing.T) {
		events := openStream(t, base+"/stream?fromEnqueuedTime=2000-01-01T00:00:00Z", nil)
		if got := nextSeqs(t, events, 4); !slices.Equal(got, []int64{1, 2, 3, 4}) {
			t.Fatalf("replayed %v", got)
		}
	})
}

func TestStreamHeartbeat(t *testing.T) {
	l := openLog(t, Options{})
	base := serve(t, l, HandlerOptions{Heartbeat: 20 * time.Millisecond})
	events := openStream(t, base+"/stream", nil)
	select {
	case ev := <-events:
		if ev.comment != "heartbeat" {
			t.Fatalf("first thing on an idle stream: %+v", ev)
		}
	case <-time.After(wait):
		t.Fatal("no heartbeat")
	}
}

func TestStreamEndsWhenTheLogCloses(t *testing.T) {
	l := openLog(t, Options{})
	base := serve(t, l, HandlerOptions{})
	events := openStream(t, base+"/stream", nil)
	l.Close()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream still open after Close")
		}
	}
}

// streamRecorder is a ResponseWriter safe to read while the handler writes.
// With a gate, every Write waits until the gate is closed.
type streamRecorder struct {
	mu      sync.Mutex
	header  http.Header
	buf     bytes.Buffer
	gate    chan struct{}
	entered chan struct{}
}

func newStreamRecorder(gated bool) *streamRecorder {
	r := &streamRecorder{header: http.Header{}, entered: make(chan struct{}, 1)}
	if gated {
		r.gate = make(chan struct{})
	}
	return r
}

func (r *streamRecorder) Header() http.Header { return r.header }
func (r *streamRecorder) WriteHeader(int)     {}
func (r *streamRecorder) Flush()              {}

func (r *streamRecorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *streamRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// startStream runs the handler on a recorder; stop ends the request and
// waits for the handler to return.
func startStream(t *testing.T, h http.Handler, rec *streamRecorder, target string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil).WithContext(ctx))
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("the stream did not end with its request")
		}
	}
	t.Cleanup(stop)
	return stop
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
	rec := newStreamRecorder(true)
	stop := startStream(t, NewHandler(l, HandlerOptions{}), rec, "/stream")
	eventually(t, "the stream to subscribe", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.subs) == 1
	})
	mustAppend(t, l, msg("d", "", "first"))
	select {
	case <-rec.entered: // the handler is now stuck writing #1
	case <-time.After(wait):
		t.Fatal("the handler did not write")
	}
	const n = subscriberBuffer + 100
	for i := 2; i <= n; i++ {
		mustAppend(t, l, msg("d", "", fmt.Sprint(i)))
	}
	close(rec.gate)
	eventually(t, "every message on the stream", func() bool { return len(eventIDs(rec.String())) >= n })
	stop()
	if got := eventIDs(rec.String()); !slices.Equal(got, seqRange(1, n)) {
		t.Fatalf("stream carried %d events, first %v", len(got), got[:min(5, len(got))])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.subs) != 0 {
		t.Fatalf("%d subscriptions left after the client went away", len(l.subs))
	}
}

func TestStreamGolden(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	mustAppend(t, l, Message{DeviceID: "thermostat", SystemProperties: SystemProperties(map[string]string{"mid": "m-1"}), Body: []byte(`{"t":21}`)})
	c.Advance(time.Second)
	mustAppend(t, l, Message{DeviceID: "thermostat", ModuleID: "m", Properties: map[string]string{"k": "v"}, Body: []byte{0xff}})
	rec := newStreamRecorder(false)
	stop := startStream(t, NewHandler(l, HandlerOptions{}), rec, "/stream?fromSequenceNumber=1")
	eventually(t, "two events", func() bool { return len(eventIDs(rec.String())) == 2 })
	stop()
	golden(t, "stream.golden.txt", []byte(rec.String()))
	if rec.header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("Content-Type %q", rec.header.Get("Content-Type"))
	}
}

// noFlush hides the recorder's Flush, like a middleware wrapper without Unwrap.
type noFlush struct{ w http.ResponseWriter }

func (n noFlush) Header() http.Header         { return n.w.Header() }
func (n noFlush) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noFlush) WriteHeader(code int)        { n.w.WriteHeader(code) }

func TestStreamRefusesAWriterThatCannotFlush(t *testing.T) {
	l := openLog(t, Options{})
	rec := httptest.NewRecorder()
	NewHandler(l, HandlerOptions{}).ServeHTTP(noFlush{rec}, httptest.NewRequest("GET", "/stream", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("iothub-errorcode") != "ServerError" ||
		!strings.Contains(rec.Body.String(), "cannot stream") || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
