package d2c

import (
	"context"
	"errors"
	"fmt"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// fixture appends nine messages one second apart:
//
//	1 d1  2 d2  3 d1/m1  4 d1  5 d2/m1  6 d1/m2  7 d1  8 d2  9 d1/m1
func fixture(t *testing.T) (*Log, *testkit.Clock) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	for _, dm := range [][2]string{{"d1", ""}, {"d2", ""}, {"d1", "m1"}, {"d1", ""}, {"d2", "m1"}, {"d1", "m2"}, {"d1", ""}, {"d2", ""}, {"d1", "m1"}} {
		mustAppend(t, l, msg(dm[0], dm[1], "x"))
		c.Advance(time.Second)
	}
	return l, c
}

func TestReadFilters(t *testing.T) {
	l, c := fixture(t)
	start := c.Now().Add(-9 * time.Second) // enqueued time of #1
	tests := []struct {
		name     string
		f        Filter
		max      int
		want     []int64
		wantNext int64
	}{
		{"all", Filter{}, 0, seqRange(1, 9), 10},
		{"device", Filter{DeviceID: "d2"}, 0, []int64{2, 5, 8}, 10},
		{"device and module", Filter{DeviceID: "d1", ModuleID: "m1"}, 0, []int64{3, 9}, 10},
		{"module on any device", Filter{ModuleID: "m1"}, 0, []int64{3, 5, 9}, 10},
		{"from sequence, inclusive", Filter{FromSequence: 7}, 0, []int64{7, 8, 9}, 10},
		{"from time, inclusive", Filter{FromTime: start.Add(6 * time.Second)}, 0, []int64{7, 8, 9}, 10},
		{"from time between messages", Filter{FromTime: start.Add(5500 * time.Millisecond)}, 0, []int64{7, 8, 9}, 10},
		{"sequence and time, the later wins", Filter{FromSequence: 3, FromTime: start.Add(7 * time.Second)}, 0, []int64{8, 9}, 10},
		{"device from sequence", Filter{DeviceID: "d1", FromSequence: 5}, 0, []int64{6, 7, 9}, 10},
		{"unknown device", Filter{DeviceID: "nope"}, 0, []int64{}, 10},
		{"past the end", Filter{FromSequence: 10}, 0, []int64{}, 10},
		{"far past the end keeps the cursor", Filter{FromSequence: 50}, 0, []int64{}, 50},
		{"max cuts the page", Filter{}, 4, []int64{1, 2, 3, 4}, 5},
		{"max on a filter", Filter{DeviceID: "d1"}, 2, []int64{1, 3}, 4},
		{"max exactly the matches", Filter{DeviceID: "d2"}, 3, []int64{2, 5, 8}, 9},
		{"time after everything", Filter{FromTime: start.Add(time.Hour)}, 0, []int64{}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := l.Read(tt.f, tt.max)
			if !slices.Equal(seqs(got), tt.want) || next != tt.wantNext {
				t.Fatalf("Read = %v next %d, want %v next %d", seqs(got), next, tt.want, tt.wantNext)
			}
			for _, m := range got {
				if !tt.f.Matches(m) {
					t.Errorf("#%d does not match the filter", m.SequenceNumber)
				}
			}
		})
	}
}

func TestReadPagingVisitsEachMatchOnce(t *testing.T) {
	l, _ := fixture(t)
	for _, f := range []Filter{{}, {DeviceID: "d1"}, {ModuleID: "m1"}, {DeviceID: "zz"}} {
		for pageSize := 1; pageSize <= 10; pageSize++ {
			all, _ := l.Read(f, 100)
			var got []int64
			cursor := f
			for range 20 { // more than enough pages
				page, next := l.Read(cursor, pageSize)
				if next <= cursor.FromSequence && len(page) > 0 {
					t.Fatalf("cursor did not advance: %d -> %d", cursor.FromSequence, next)
				}
				got = append(got, seqs(page)...)
				cursor.FromSequence = next
				if len(page) == 0 {
					break
				}
			}
			if !slices.Equal(got, seqs(all)) && !(len(got) == 0 && len(all) == 0) {
				t.Fatalf("filter %+v page %d: paged %v, want %v", f, pageSize, got, seqs(all))
			}
			if cursor.FromSequence != 10 {
				t.Fatalf("filter %+v page %d: final cursor %d, want 10", f, pageSize, cursor.FromSequence)
			}
		}
	}
}

func TestAppendStampsTheHubsProperties(t *testing.T) {
	c := newClock()
	c.Advance(1234567 * time.Nanosecond) // not a whole millisecond
	l := openLog(t, Options{Now: c.Now})
	in := Message{
		DeviceID:         "dev",
		ModuleID:         "mod",
		SystemProperties: map[string]string{"message-id": "m-1", PropConnectionDeviceID: "spoofed"},
		Properties:       map[string]string{"k": "v"},
		Body:             []byte(`{"t":1}`),
	}
	got := mustAppend(t, l, in)
	if got.SequenceNumber != 1 {
		t.Fatalf("first sequence number %d", got.SequenceNumber)
	}
	wantTime := time.Date(2026, 3, 1, 12, 0, 0, 1000000, time.UTC)
	if !got.EnqueuedTime.Equal(wantTime) || got.EnqueuedTime.Location() != time.UTC {
		t.Fatalf("EnqueuedTime %v, want %v in UTC", got.EnqueuedTime, wantTime)
	}
	want := map[string]string{
		"message-id":           "m-1",
		PropConnectionDeviceID: "dev",
		PropConnectionModuleID: "mod",
		PropEnqueuedTime:       "2026-03-01T12:00:00.001Z",
		PropMessageSource:      "Telemetry",
	}
	if fmt.Sprint(got.SystemProperties) != fmt.Sprint(want) {
		t.Fatalf("system properties %v, want %v", got.SystemProperties, want)
	}
	if in.SystemProperties[PropConnectionDeviceID] != "spoofed" || len(in.SystemProperties) != 2 {
		t.Fatal("Append changed the caller's map")
	}
	// What Read returns is the same message, and a copy.
	read, _ := l.Read(Filter{}, 1)
	if fmt.Sprint(read[0]) != fmt.Sprint(got) {
		t.Fatalf("Read %+v, Append returned %+v", read[0], got)
	}
	read[0].Properties["k"] = "changed"
	read[0].Body[0] = 'X'
	again, _ := l.Read(Filter{}, 1)
	if again[0].Properties["k"] != "v" || again[0].Body[0] != '{' {
		t.Fatal("a reader changed the log through a returned message")
	}

	// A device message carries no module property; nil maps and body come back empty, not nil.
	d := mustAppend(t, l, Message{DeviceID: "dev", SystemProperties: map[string]string{PropConnectionModuleID: "x"}})
	if _, ok := d.SystemProperties[PropConnectionModuleID]; ok {
		t.Fatal("a device message has a module id")
	}
	if d.Properties == nil || d.Body == nil {
		t.Fatal("nil properties or body")
	}
}

func TestEnqueuedTimeNeverGoesBack(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	a := mustAppend(t, l, msg("d", "", "a"))
	c.Advance(-time.Hour)
	b := mustAppend(t, l, msg("d", "", "b"))
	if b.EnqueuedTime.Before(a.EnqueuedTime) {
		t.Fatalf("enqueued time went back: %v then %v", a.EnqueuedTime, b.EnqueuedTime)
	}
}

func TestAppendRefusesBadMessagesAndWritesNothing(t *testing.T) {
	s := openStore(t, tempDB(t))
	l := openLog(t, Options{Store: s})
	big := msg("d", "", "")
	big.Body = make([]byte, MaxMessageSize-3)
	big.Properties = map[string]string{"ab": "cd"}
	tests := []struct {
		name string
		m    Message
		code errcode.Code
	}{
		{"no device", msg("", "m", "x"), errcode.ArgumentNull},
		{"too large", big, errcode.MessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Append(context.Background(), tt.m)
			if !errcode.Is(err, tt.code) {
				t.Fatalf("err = %v, want %v", err, tt.code)
			}
		})
	}
	if got, _ := l.Read(Filter{}, 10); len(got) != 0 || l.NextSequenceNumber() != 1 {
		t.Fatalf("refused messages left a trace: %v, next %d", seqs(got), l.NextSequenceNumber())
	}
	if keys, meta := storedSeqs(t, s); len(keys) != 0 || meta {
		t.Fatalf("refused messages reached the store: %v %v", keys, meta)
	}
	// Exactly at the limit is fine.
	big.Body = big.Body[:len(big.Body)-1]
	if _, err := l.Append(context.Background(), big); err != nil {
		t.Fatalf("a message of exactly %d bytes: %v", MaxMessageSize, err)
	}
}

func TestAppendHonoursACanceledContext(t *testing.T) {
	l := openLog(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The writer may take it anyway (then it is stored); either way the
	// outcome is consistent.
	m, err := l.Append(ctx, msg("d", "", "x"))
	got, _ := l.Read(Filter{}, 10)
	switch {
	case errors.Is(err, context.Canceled) && len(got) == 0:
	case err == nil && len(got) == 1 && got[0].SequenceNumber == m.SequenceNumber:
	default:
		t.Fatalf("Append = %v, %v; log holds %v", m.SequenceNumber, err, seqs(got))
	}
}

// TestConcurrentAppendersStayOrdered checks that numbers are unique and
// dense, that each Append is visible when it returns, and that readers only
// ever see a gap-free prefix: messages become visible in sequence order.
func TestConcurrentAppendersStayOrdered(t *testing.T) {
	s := openStore(t, tempDB(t))
	l := openLog(t, Options{Store: s})
	const appenders, each = 8, 60
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		defer close(readerErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(time.Millisecond) // look often, but leave the writer room
			got, next := l.Read(Filter{}, 1000)
			if !slices.Equal(seqs(got), seqRange(1, int64(len(got)))) || next != int64(len(got))+1 {
				readerErr <- fmt.Errorf("reader saw %v next %d", seqs(got), next)
				return
			}
			for i := 1; i < len(got); i++ {
				if got[i].EnqueuedTime.Before(got[i-1].EnqueuedTime) {
					readerErr <- fmt.Errorf("#%d enqueued before #%d", got[i].SequenceNumber, got[i-1].SequenceNumber)
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for a := range appenders {
		wg.Go(func() {
			dev := fmt.Sprintf("dev%d", a)
			var last int64
			for i := range each {
				m, err := l.Append(context.Background(), msg(dev, "", fmt.Sprint(i)))
				if err != nil {
					errs <- err
					return
				}
				if m.SequenceNumber <= last {
					errs <- fmt.Errorf("%s: #%d after #%d", dev, m.SequenceNumber, last)
					return
				}
				last = m.SequenceNumber
				if got, _ := l.Read(Filter{FromSequence: m.SequenceNumber}, 1); len(got) != 1 || got[0].SequenceNumber != m.SequenceNumber {
					errs <- fmt.Errorf("%s: #%d not visible after Append returned", dev, m.SequenceNumber)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-readerErr; err != nil {
		t.Error(err)
	}
	got, next := l.Read(Filter{}, 1000)
	if !slices.Equal(seqs(got), seqRange(1, appenders*each)) || next != appenders*each+1 {
		t.Fatalf("final log %v next %d", seqs(got), next)
	}
	// Each device's messages are in its own send order.
	for a := range appenders {
		dev, _ := l.Read(Filter{DeviceID: fmt.Sprintf("dev%d", a)}, 1000)
		for i, m := range dev {
			if string(m.Body) != fmt.Sprint(i) {
				t.Fatalf("dev%d message %d has body %q", a, i, m.Body)
			}
		}
	}
	if keys, _ := storedSeqs(t, s); !slices.Equal(keys, seqRange(1, appenders*each)) {
		t.Fatalf("store holds %d messages", len(keys))
	}
}

func TestWait(t *testing.T) {
	t.Run("returns at once when something matches", func(t *testing.T) {
		l, _ := fixture(t)
		start := time.Now()
		got, next, err := l.Wait(context.Background(), Filter{DeviceID: "d2"}, 2)
		if err != nil || !slices.Equal(seqs(got), []int64{2, 5}) || next != 6 || time.Since(start) > time.Second {
			t.Fatalf("Wait = %v %d %v", seqs(got), next, err)
		}
	})
	t.Run("wakes for a matching message only", func(t *testing.T) {
		l := openLog(t, Options{})
		parked := parkedWaits(l)
		type result struct {
			msgs []Message
			next int64
			err  error
		}
		done := make(chan result, 1)
		go func() {
			m, n, err := l.Wait(context.Background(), Filter{DeviceID: "target"}, 10)
			done <- result{m, n, err}
		}()
		awaitParked := func(what string) {
			t.Helper()
			select {
			case <-parked:
			case r := <-done:
				t.Fatalf("Wait returned %s: %v", what, seqs(r.msgs))
			case <-time.After(wait):
				t.Fatalf("Wait did not park %s", what)
			}
		}
		awaitParked("before any message")
		mustAppend(t, l, msg("other", "", "no"))
		// The append wakes it; it looks, finds nothing for it, and parks again.
		awaitParked("for another device")
		sent := time.Now()
		mustAppend(t, l, msg("target", "", "yes"))
		select {
		case r := <-done:
			if r.err != nil || !slices.Equal(seqs(r.msgs), []int64{2}) || r.next != 3 {
				t.Fatalf("Wait = %v next %d, %v", seqs(r.msgs), r.next, r.err)
			}
			if d := time.Since(sent); d > time.Second {
				t.Fatalf("Wait took %v after the message arrived", d)
			}
		case <-time.After(wait):
			t.Fatal("Wait did not return after a matching message")
		}
	})
	t.Run("returns empty when the context ends", func(t *testing.T) {
		l, _ := fixture(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, next, err := l.Wait(ctx, Filter{DeviceID: "nobody"}, 10)
		if err != nil || got == nil || len(got) != 0 || next != 10 {
			t.Fatalf("Wait = %v (nil %v) next %d, %v", seqs(got), got == nil, next, err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > wait {
			t.Fatalf("Wait returned after %v", d)
		}
	})
	t.Run("Close wakes it", func(t *testing.T) {
		l := openLog(t, Options{})
		parked := parkedWaits(l)
		done := make(chan error, 1)
		go func() {
			_, _, err := l.Wait(context.Background(), Filter{}, 10)
			done <- err
		}()
		select {
		case <-parked:
		case err := <-done:
			t.Fatalf("Wait returned before Close: %v", err)
		case <-time.After(wait):
			t.Fatal("Wait did not park")
		}
		l.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Wait after Close = %v", err)
			}
		case <-time.After(wait):
			t.Fatal("Close did not wake Wait")
		}
		if _, err := l.Append(context.Background(), msg("d", "", "x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close = %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestSubscribe(t *testing.T) {
	t.Run("in order, filtered, until cancel", func(t *testing.T) {
		l := openLog(t, Options{})
		mustAppend(t, l, msg("d1", "", "before"))
		all, cancelAll := l.Subscribe(Filter{})
		d1, cancelD1 := l.Subscribe(Filter{DeviceID: "d1"})
		for i := range 20 {
			mustAppend(t, l, msg([]string{"d1", "d2"}[i%2], "", fmt.Sprint(i)))
		}
		if got := drain(t, all, 20); !slices.Equal(seqs(got), seqRange(2, 21)) {
			t.Fatalf("all: %v", seqs(got))
		}
		if got := drain(t, d1, 10); !slices.Equal(seqs(got), []int64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}) {
			t.Fatalf("d1: %v", seqs(got))
		}
		cancelAll()
		cancelAll()
		if _, ok := <-all; ok {
			t.Fatal("channel open after cancel")
		}
		cancelD1()
	})
	t.Run("a slow subscriber is dropped without blocking Append", func(t *testing.T) {
		l := openLog(t, Options{})
		slow, cancelSlow := l.Subscribe(Filter{})
		defer cancelSlow()
		fast, cancelFast := l.Subscribe(Filter{})
		defer cancelFast()
		const n = subscriberBuffer + 50
		// The fast subscriber reads each message before the next is
		// appended (lockstep), so only the slow one can fall behind,
		// however the goroutines are scheduled.
		fastGot := make(chan []Message, 1)
		read := make(chan struct{}, 1)
		go func() {
			var got []Message
			for m := range fast {
				got = append(got, m)
				read <- struct{}{}
				if len(got) == n {
					break
				}
			}
			fastGot <- got
		}()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				if _, err := l.Append(context.Background(), msg("d", "", fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-read:
				case <-time.After(wait):
					t.Error("the fast subscriber did not receive a message")
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(2 * wait):
			t.Fatal("Append blocked on a subscriber that does not read")
		}
		var got []Message
		for m := range slow { // ends: the channel is closed
			got = append(got, m)
		}
		if !slices.Equal(seqs(got), seqRange(1, subscriberBuffer)) {
			t.Fatalf("slow subscriber got %d messages, first %v", len(got), seqs(got[:min(3, len(got))]))
		}
		select {
		case got := <-fastGot:
			if !slices.Equal(seqs(got), seqRange(1, n)) {
				t.Fatalf("fast subscriber got %d messages", len(got))
			}
		case <-time.After(wait):
			t.Fatal("fast subscriber starved")
		}
	})
	t.Run("Close ends subscriptions", func(t *testing.T) {
		l := openLog(t, Options{})
		ch, cancel := l.Subscribe(Filter{})
		l.Close()
		if _, ok := <-ch; ok {
			t.Fatal("subscription open after Close")
		}
		cancel()
		late, cancelLate := l.Subscribe(Filter{})
		if _, ok := <-late; ok {
			t.Fatal("subscription after Close is open")
		}
		cancelLate()
	})
}

// parkedWaits makes l report each time a Wait parks. Call it before the
// first Wait.
func parkedWaits(l *Log) <-chan struct{} {
	ch := make(chan struct{}, 16)
	l.parked = func() {
		select {
		case ch <- struct{}{}:
		default: // more than a test waits for; never block Wait
		}
	}
	return ch
}

// drain reads n messages or fails.
func drain(t *testing.T, ch <-chan Message, n int) []Message {
	t.Helper()
	var got []Message
	timeout := time.After(wait)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d messages", len(got))
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("only %d of %d messages", len(got), n)
		}
	}
	return got
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{MaxMessages: -1}, {MaxAge: -time.Second}} {
		if l, err := Open(o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestSystemPropertyName(t *testing.T) {
	tests := map[string]string{
		"mid": "message-id", "cid": "correlation-id", "uid": "user-id", "to": "to",
		"exp": "absolute-expiry-time", "ct": "content-type", "ce": "content-encoding",
		"ctime": "iothub-creation-time-utc", "on": "iothub-outputname", "ifid": "iothub-interface-id",
		"sub": "dt-subject", "schema": "iothub-message-schema", "diagid": "iothub-diag-id",
		"diagctx": "diag-correlation-context", "dataschema": "dt-dataschema",
		"whatever": "$.whatever", "": "$.",
	}
	for in, want := range tests {
		if got := SystemPropertyName(in); got != want {
			t.Errorf("SystemPropertyName(%q) = %q, want %q", in, got, want)
		}
	}
	got := SystemProperties(map[string]string{"mid": "1", "ct": "application/json", "x": "y"})
	if fmt.Sprint(got) != "map[$.x:y content-type:application/json message-id:1]" {
		t.Fatalf("SystemProperties = %v", got)
	}
	if SystemProperties(nil) == nil {
		t.Fatal("SystemProperties(nil) is nil")
	}
}

func TestClearDeletesEverythingButNotSequenceNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	st := openStore(t, path)
	l, err := Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if _, err := l.Append(ctx, Message{DeviceID: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := l.Read(Filter{}, 10); len(msgs) != 0 {
		t.Fatalf("after Clear: %d messages", len(msgs))
	}
	m, err := l.Append(ctx, Message{DeviceID: "d"})
	if err != nil || m.SequenceNumber != 4 {
		t.Fatalf("after Clear the next number is %d (%v), want 4", m.SequenceNumber, err)
	}
	l.Close()
	st.Close()
	st2 := openStore(t, path)
	l2, err := Open(Options{Store: st2})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if msgs, _ := l2.Read(Filter{}, 10); len(msgs) != 1 || msgs[0].SequenceNumber != 4 {
		t.Fatalf("after reopen: %+v", msgs)
	}
}

func TestOpenRequiresAStore(t *testing.T) {
	if l, err := Open(Options{}); err == nil {
		l.Close()
		t.Fatal("Open without a store succeeded")
	}
}

// Send stores what Append stores; it keeps the caller's maps but copies the
// body, which a protocol head may reuse.
func TestSendStoresWhatAppendStores(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Now: c.Now})
	in := func() Message {
		return Message{
			DeviceID:         "dev",
			SystemProperties: map[string]string{"message-id": "m-1", PropConnectionDeviceID: "spoofed"},
			Properties:       map[string]string{"k": "v"},
			Body:             []byte(`{"t":1}`),
		}
	}
	appended := mustAppend(t, l, in())
	sent := in()
	if err := l.Send(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	sent.Body[0] = 'X' // the head reuses its buffer
	read, _ := l.Read(Filter{}, 2)
	if len(read) != 2 {
		t.Fatalf("read %d messages, want 2", len(read))
	}
	got := read[1]
	if got.SequenceNumber != appended.SequenceNumber+1 || got.PartitionSequenceNumber != appended.PartitionSequenceNumber+1 {
		t.Fatalf("sent message numbered %d/%d after %d/%d", got.SequenceNumber, got.PartitionSequenceNumber, appended.SequenceNumber, appended.PartitionSequenceNumber)
	}
	got.SequenceNumber, got.PartitionSequenceNumber, got.Offset = appended.SequenceNumber, appended.PartitionSequenceNumber, appended.Offset
	if fmt.Sprint(got) != fmt.Sprint(appended) {
		t.Fatalf("Send stored %+v\nAppend stored %+v", got, appended)
	}

	for _, bad := range []Message{msg("", "m", "x"), {DeviceID: "d", Body: make([]byte, MaxMessageSize+1)}} {
		_, appendErr := l.Append(context.Background(), bad)
		sendErr := l.Send(context.Background(), bad)
		if appendErr == nil || fmt.Sprint(sendErr) != fmt.Sprint(appendErr) {
			t.Errorf("Send refused with %v, Append with %v", sendErr, appendErr)
		}
	}
	if n := l.NextSequenceNumber(); n != 3 {
		t.Fatalf("next sequence number %d after the refusals, want 3", n)
	}
}
