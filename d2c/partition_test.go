package d2c

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestOpenChecksPartitionsAndConsumerGroups(t *testing.T) {
	tests := []struct {
		name       string
		partitions int
		groups     []string
		wantErr    string // "" means no error
		wantParts  int
		wantGroups []string
	}{
		{"defaults", 0, nil, "", DefaultPartitions, []string{"$Default"}},
		{"one partition", 1, nil, "", 1, []string{"$Default"}},
		{"most partitions", MaxPartitions, nil, "", MaxPartitions, []string{"$Default"}},
		{"negative", -1, nil, "partition count -1", 0, nil},
		{"too many", MaxPartitions + 1, nil, "partition count 33", 0, nil},
		{"groups", 2, []string{"a", "B.c_d-9"}, "", 2, []string{"$Default", "a", "B.c_d-9"}},
		{"fifty characters", 2, []string{strings.Repeat("x", 50)}, "", 2, []string{"$Default", strings.Repeat("x", 50)}},
		{"fifty-one characters", 2, []string{strings.Repeat("x", 51)}, "1 to 50 characters", 0, nil},
		{"empty name", 2, []string{""}, "1 to 50 characters", 0, nil},
		{"default is reserved", 2, []string{"$default"}, "reserved", 0, nil},
		{"dollar", 2, []string{"$mine"}, "only letters", 0, nil},
		{"space", 2, []string{"my group"}, "only letters", 0, nil},
		{"non-ASCII letter", 2, []string{"grüppe"}, "only letters", 0, nil},
		{"duplicate, any case", 2, []string{"ops", "OPS"}, "given twice", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(Options{Store: store.OpenMemory(), Partitions: tt.partitions, ConsumerGroups: tt.groups})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					l.Close()
					t.Fatalf("Open: %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Partitions() != tt.wantParts || !slices.Equal(l.ConsumerGroups(), tt.wantGroups) {
				t.Fatalf("partitions %d groups %q", l.Partitions(), l.ConsumerGroups())
			}
		})
	}
}

func TestConsumerGroupLookupIgnoresCase(t *testing.T) {
	l := openLog(t, Options{ConsumerGroups: []string{"Ops"}})
	for in, want := range map[string]string{"$default": "$Default", "$DEFAULT": "$Default", "ops": "Ops", "OPS": "Ops"} {
		if got, ok := l.ConsumerGroup(in); !ok || got != want {
			t.Errorf("ConsumerGroup(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := l.ConsumerGroup("other"); ok {
		t.Error("an unknown consumer group was found")
	}
}

// The mapping is part of the stored format and of what users see: pin it.
func TestPartitionOfIsFNV1a(t *testing.T) {
	for _, tt := range []struct {
		id   string
		n    int
		want int
	}{
		{"thermostat", 4, 0}, {"gateway", 4, 1}, {"sensor-1", 4, 1}, {"d1", 4, 2}, {"pump", 4, 3},
		{"thermostat", 32, 20}, {"gateway", 32, 25}, {"d2", 32, 19}, {"anything", 1, 0},
	} {
		if got := PartitionOf(tt.id, tt.n); got != tt.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tt.id, tt.n, got, tt.want)
		}
	}
}

// deviceOn returns a device id that lands on partition p of n.
func deviceOn(t testing.TB, p, n int) string {
	t.Helper()
	for i := range 10000 {
		if id := fmt.Sprintf("dev-%d", i); PartitionOf(id, n) == p {
			return id
		}
	}
	t.Fatalf("no device id found for partition %d of %d", p, n)
	return ""
}

func TestAppendAssignsPartitionPlaces(t *testing.T) {
	l := openLog(t, Options{Partitions: 4})
	type sent struct{ device, module, body string }
	var in []sent
	for i := range 40 {
		dev := fmt.Sprintf("device-%d", i%7)
		mod := []string{"", "", "m1"}[i%3]
		in = append(in, sent{dev, mod, strings.Repeat("x", i%5)})
	}
	var got []Message
	for _, s := range in {
		got = append(got, mustAppend(t, l, msg(s.device, s.module, s.body)))
	}
	next := map[int]int64{}
	nextOff := map[int]int64{}
	for i, m := range got {
		if want := PartitionOf(m.DeviceID, 4); m.Partition != want {
			t.Fatalf("#%d of %s/%s on partition %d, want %d (the device's)", m.SequenceNumber, m.DeviceID, m.ModuleID, m.Partition, want)
		}
		if m.PartitionSequenceNumber != next[m.Partition] || m.Offset != nextOff[m.Partition] {
			t.Fatalf("message %d: partition %d #%d offset %d, want #%d offset %d", i, m.Partition, m.PartitionSequenceNumber, m.Offset, next[m.Partition], nextOff[m.Partition])
		}
		next[m.Partition]++
		nextOff[m.Partition] += int64(max(len(in[i].body), 1))
	}
	// The read-back JSON is unchanged by partitions.
	b, _ := json.Marshal(got[0])
	if bytes.Contains(b, []byte("partition")) || bytes.Contains(b, []byte("offset")) {
		t.Fatalf("read-back JSON shows partition fields: %s", b)
	}
}

func TestCursorDeliversEachDeviceInOrder(t *testing.T) {
	const parts, devices, perDevice = 3, 12, 40
	l := openLog(t, Options{Partitions: parts})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()

	type result struct {
		byDevice map[string][]string
		err      error
	}
	results := make([]chan result, parts)
	for p := range parts {
		c, err := l.OpenCursor(p, Earliest())
		if err != nil {
			t.Fatal(err)
		}
		results[p] = make(chan result, 1)
		go func() {
			r := result{byDevice: map[string][]string{}}
			want := 0
			for d := range devices {
				if PartitionOf(fmt.Sprintf("d%d", d), parts) == p {
					want += perDevice
				}
			}
			for got := 0; got < want; {
				msgs, err := c.Next(ctx, 7)
				if err != nil {
					r.err = err
					break
				}
				for _, m := range msgs {
					if m.Partition != p {
						r.err = fmt.Errorf("partition %d cursor got a message of partition %d", p, m.Partition)
					}
					r.byDevice[m.DeviceID] = append(r.byDevice[m.DeviceID], string(m.Body))
				}
				got += len(msgs)
			}
			results[p] <- r
		}()
	}

	var wg sync.WaitGroup
	for d := range devices {
		wg.Go(func() {
			for i := range perDevice {
				if _, err := l.Append(ctx, msg(fmt.Sprintf("d%d", d), "", fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := 0
	for p := range parts {
		r := <-results[p]
		if r.err != nil {
			t.Fatalf("partition %d: %v", p, r.err)
		}
		for dev, bodies := range r.byDevice {
			for i, b := range bodies {
				if b != fmt.Sprint(i) {
					t.Fatalf("%s out of order on partition %d: %v", dev, p, bodies)
				}
			}
			seen++
		}
	}
	if seen != devices {
		t.Fatalf("%d devices seen, want %d", seen, devices)
	}
}

// positionFixture puts 6 messages one second apart on partition 0 of 2:
// numbers 0..5, offsets 0, 10, 20 ... (bodies of 10 bytes). Another
// device's messages on partition 1 are interleaved and must never show.
func positionFixture(t *testing.T, opts Options) (*Log, *testkit.Clock, string) {
	t.Helper()
	c := newClock()
	opts.Now, opts.Partitions = c.Now, 2
	l := openLog(t, opts)
	dev, other := deviceOn(t, 0, 2), deviceOn(t, 1, 2)
	for i := range 6 {
		mustAppend(t, l, msg(dev, "", fmt.Sprintf("body-%04d", i)+"!"))
		mustAppend(t, l, msg(other, "", "other"))
		c.Advance(time.Second)
	}
	return l, c, dev
}

func pseqs(msgs []Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.PartitionSequenceNumber)
	}
	return out
}

// readAll reads what a cursor has without waiting: Next with a context
// already done returns what is there, or the context's error.
func readAll(t *testing.T, c *Cursor) []Message {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var out []Message
	for range 1000 {
		msgs, err := c.Next(done, 4)
		if errors.Is(err, context.Canceled) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msgs...)
	}
	t.Fatal("cursor never ran dry")
	return nil
}

func TestCursorPositions(t *testing.T) {
	l, c, _ := positionFixture(t, Options{})
	start := c.Now().Add(-6 * time.Second) // enqueued time of #0
	tests := []struct {
		name string
		pos  EventPosition
		want []int64
	}{
		{"earliest", Earliest(), seqRange(0, 5)},
		{"latest", Latest(), []int64{}},
		{"zero position is latest", EventPosition{}, []int64{}},
		{"sequence, exclusive", AtSequenceNumber(2, false), []int64{3, 4, 5}},
		{"sequence, inclusive", AtSequenceNumber(2, true), []int64{2, 3, 4, 5}},
		{"sequence -1, exclusive", AtSequenceNumber(-1, false), seqRange(0, 5)},
		{"sequence past the end", AtSequenceNumber(5, false), []int64{}},
		{"offset, exclusive", AtOffset(20, false), []int64{3, 4, 5}},
		{"offset, inclusive", AtOffset(20, true), []int64{2, 3, 4, 5}},
		{"offset between messages", AtOffset(25, true), []int64{3, 4, 5}},
		{"offset -1 is the start", AtOffset(-1, false), seqRange(0, 5)},
		{"offset of the last, exclusive", AtOffset(50, false), []int64{}},
		{"time, exclusive", AtEnqueuedTime(start.Add(2*time.Second), false), []int64{3, 4, 5}},
		{"time, inclusive", AtEnqueuedTime(start.Add(2*time.Second), true), []int64{2, 3, 4, 5}},
		{"time between messages", AtEnqueuedTime(start.Add(2500*time.Millisecond), false), []int64{3, 4, 5}},
		{"time before everything", AtEnqueuedTime(start.Add(-time.Hour), false), seqRange(0, 5)},
		{"time after everything", AtEnqueuedTime(start.Add(time.Hour), false), []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, err := l.OpenCursor(0, tt.pos)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, cur)
			if !slices.Equal(pseqs(got), tt.want) {
				t.Fatalf("%v: got %v, want %v", tt.pos, pseqs(got), tt.want)
			}
			for i, m := range got {
				if m.Offset != 10*m.PartitionSequenceNumber || m.Partition != 0 {
					t.Fatalf("message %d: partition %d offset %d", i, m.Partition, m.Offset)
				}
			}
		})
	}
}

// A position that no message has reached yet applies to the messages that
// come later: a time in the future holds back what is enqueued before it.
func TestCursorFuturePositionWaitsForItsMessages(t *testing.T) {
	l, c, dev := positionFixture(t, Options{})
	byTime, _ := l.OpenCursor(0, AtEnqueuedTime(c.Now().Add(1500*time.Millisecond), false))
	byOffset, _ := l.OpenCursor(0, AtOffset(65, true))
	for i := range 3 {
		mustAppend(t, l, msg(dev, "", fmt.Sprintf("late-%04d", i)+"!"))
		c.Advance(time.Second)
	}
	if got := pseqs(readAll(t, byTime)); !slices.Equal(got, []int64{8}) {
		t.Fatalf("by time: %v, want [8] (enqueued 2 s after the cursor opened)", got)
	}
	if got := pseqs(readAll(t, byOffset)); !slices.Equal(got, []int64{7, 8}) {
		t.Fatalf("by offset: %v, want [7 8]", got)
	}
}

func TestCursorPastRetentionContinuesFromEarliest(t *testing.T) {
	l, _, dev := positionFixture(t, Options{MaxMessages: 4}) // keeps #4, #5 of partition 0
	for _, pos := range []EventPosition{Earliest(), AtSequenceNumber(1, true), AtOffset(0, false)} {
		cur, err := l.OpenCursor(0, pos)
		if err != nil {
			t.Fatal(err)
		}
		if got := pseqs(readAll(t, cur)); !slices.Equal(got, []int64{4, 5}) {
			t.Fatalf("%v: %v, want [4 5]", pos, got)
		}
	}

	// A cursor that falls behind retention skips what was dropped.
	cur, _ := l.OpenCursor(0, Earliest())
	if got := pseqs(readAll(t, cur)); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("first read: %v", got)
	}
	for i := range 6 {
		mustAppend(t, l, msg(dev, "", fmt.Sprint(i)))
	}
	if got := pseqs(readAll(t, cur)); !slices.Equal(got, []int64{8, 9, 10, 11}) {
		t.Fatalf("after retention passed the cursor: %v, want [8 9 10 11]", got)
	}
}

func TestCursorSkipsMessagesPastMaxAge(t *testing.T) {
	l, c, _ := positionFixture(t, Options{MaxAge: time.Hour})
	c.Advance(time.Hour - 3500*time.Millisecond) // #0..#2 are now older than an hour
	cur, _ := l.OpenCursor(0, Earliest())
	if got := pseqs(readAll(t, cur)); !slices.Equal(got, []int64{3, 4, 5}) {
		t.Fatalf("got %v, want [3 4 5]", got)
	}
	info, _ := l.PartitionInfo(0)
	if info.BeginSequenceNumber != 3 {
		t.Fatalf("begin %d, want 3", info.BeginSequenceNumber)
	}
}

func TestCursorNextWaits(t *testing.T) {
	l := openLog(t, Options{Partitions: 2})
	dev := deviceOn(t, 1, 2)
	cur, err := l.OpenCursor(1, Latest())
	if err != nil {
		t.Fatal(err)
	}

	// Nothing there: Next ends with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	msgs, err := cur.Next(ctx, 10)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 0 {
		t.Fatalf("Next on an empty partition: %v %v", msgs, err)
	}

	// A message on the other partition does not end the wait; one on this does.
	got := make(chan []Message, 1)
	errc := make(chan error, 1)
	ctx, cancel = context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	go func() {
		msgs, err := cur.Next(ctx, 10)
		got <- msgs
		errc <- err
	}()
	mustAppend(t, l, msg(deviceOn(t, 0, 2), "", "elsewhere"))
	mustAppend(t, l, msg(dev, "", "here"))
	if m := <-got; len(m) != 1 || string(m[0].Body) != "here" {
		t.Fatalf("Next woke with %+v", m)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// Close wakes a waiting Next with ErrClosed.
	go func() {
		_, err := cur.Next(ctx, 10)
		errc <- err
	}()
	l.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestCursorMessagesAreCopies(t *testing.T) {
	l := openLog(t, Options{Partitions: 1})
	mustAppend(t, l, Message{DeviceID: "d", Body: []byte("abc"), Properties: map[string]string{"k": "v"}})
	for range 2 {
		cur, _ := l.OpenCursor(0, Earliest())
		msgs := readAll(t, cur)
		if len(msgs) != 1 || string(msgs[0].Body) != "abc" || msgs[0].Properties["k"] != "v" {
			t.Fatalf("read %+v", msgs)
		}
		msgs[0].Body[0] = 'X'
		msgs[0].Properties["k"] = "changed"
	}
}

func TestOpenCursorRefusesBadArguments(t *testing.T) {
	l := openLog(t, Options{Partitions: 4})
	for _, p := range []int{-1, 4, 100} {
		if _, err := l.OpenCursor(p, Earliest()); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("OpenCursor(%d): %v", p, err)
		}
		if _, err := l.PartitionInfo(p); err == nil {
			t.Errorf("PartitionInfo(%d) accepted", p)
		}
	}
	if _, err := l.OpenCursor(0, EventPosition{Kind: 99}); err == nil {
		t.Error("an unknown position kind was accepted")
	}
}

func TestPartitionInfo(t *testing.T) {
	c := newClock()
	l := openLog(t, Options{Partitions: 2, MaxMessages: 3, Now: c.Now})
	dev := deviceOn(t, 0, 2)
	empty := PartitionInfo{Partition: 0, BeginSequenceNumber: 0, LastSequenceNumber: -1, LastOffset: -1, Empty: true}
	if got, _ := l.PartitionInfo(0); got != empty {
		t.Fatalf("empty partition: %+v", got)
	}
	first := mustAppend(t, l, msg(dev, "", "12345"))
	c.Advance(time.Second)
	second := mustAppend(t, l, msg(dev, "", "xy"))
	want := PartitionInfo{Partition: 0, BeginSequenceNumber: 0, LastSequenceNumber: 1, LastOffset: 5, LastEnqueuedTime: second.EnqueuedTime}
	if got, _ := l.PartitionInfo(0); got != want || !first.EnqueuedTime.Before(second.EnqueuedTime) {
		t.Fatalf("after two messages: %+v, want %+v", got, want)
	}
	if got, _ := l.PartitionInfo(1); got.Partition != 1 || !got.Empty || got.LastSequenceNumber != -1 {
		t.Fatalf("the other partition: %+v", got)
	}

	// Retention moves the begin forward.
	for range 2 {
		mustAppend(t, l, msg(dev, "", "z"))
	}
	if got, _ := l.PartitionInfo(0); got.BeginSequenceNumber != 1 || got.LastSequenceNumber != 3 || got.LastOffset != 8 {
		t.Fatalf("after retention: %+v", got)
	}

	// Emptied by Clear: empty again, and the begin is the next number.
	if err := l.Clear(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.PartitionInfo(0); got != (PartitionInfo{Partition: 0, BeginSequenceNumber: 4, LastSequenceNumber: -1, LastOffset: -1, Empty: true}) {
		t.Fatalf("after Clear: %+v", got)
	}
	if m := mustAppend(t, l, msg(dev, "", "again")); m.PartitionSequenceNumber != 4 || m.Offset != 9 {
		t.Fatalf("after Clear a number was reused: #%d offset %d", m.PartitionSequenceNumber, m.Offset)
	}
}

func TestRestartKeepsPartitionNumbering(t *testing.T) {
	path := tempDB(t)
	c := newClock()
	dev0, dev1 := deviceOn(t, 0, 4), deviceOn(t, 1, 4)
	s := openStore(t, path)
	l, err := Open(Options{Store: s, Now: c.Now, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var before []Message
	for i := range 5 {
		before = append(before, mustAppend(t, l, msg([]string{dev0, dev1}[i%2], "", "abc")))
	}
	l.Close()
	s.Close()

	s = openStore(t, path)
	l = openLog(t, Options{Store: s, Now: c.Now, MaxAge: time.Hour})
	cur, _ := l.OpenCursor(0, Earliest())
	got := readAll(t, cur)
	if len(got) != 3 {
		t.Fatalf("partition 0 after restart: %d messages", len(got))
	}
	for i, m := range got {
		if w := before[2*i]; m.PartitionSequenceNumber != w.PartitionSequenceNumber || m.Offset != w.Offset || m.SequenceNumber != w.SequenceNumber {
			t.Fatalf("message %d after restart: %+v, want %+v", i, m, w)
		}
	}
	if m := mustAppend(t, l, msg(dev0, "", "x")); m.PartitionSequenceNumber != 3 || m.Offset != 9 {
		t.Fatalf("first message after restart: #%d offset %d", m.PartitionSequenceNumber, m.Offset)
	}
	l.Close()
	s.Close()

	// Everything expires; numbers still go on where they were.
	c.Advance(2 * time.Hour)
	s = openStore(t, path)
	l = openLog(t, Options{Store: s, Now: c.Now, MaxAge: time.Hour})
	if info, _ := l.PartitionInfo(0); !info.Empty || info.BeginSequenceNumber != 4 {
		t.Fatalf("after everything expired: %+v", info)
	}
	if m := mustAppend(t, l, msg(dev0, "", "y")); m.PartitionSequenceNumber != 4 || m.Offset != 10 {
		t.Fatalf("a number was reused: #%d offset %d", m.PartitionSequenceNumber, m.Offset)
	}
	if m := mustAppend(t, l, msg(dev1, "", "y")); m.PartitionSequenceNumber != 2 || m.Offset != 6 {
		t.Fatalf("a number was reused on partition 1: #%d offset %d", m.PartitionSequenceNumber, m.Offset)
	}
}

func TestRestartWithAnotherPartitionCountRenumbers(t *testing.T) {
	path := tempDB(t)
	s := openStore(t, path)
	l, err := Open(Options{Store: s, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		mustAppend(t, l, msg(fmt.Sprintf("d%d", i%5), "", "abcd"))
	}
	var highSeq, highOff int64
	for p := range 4 {
		info, _ := l.PartitionInfo(p)
		highSeq, highOff = max(highSeq, info.LastSequenceNumber+1), max(highOff, info.LastOffset+4)
	}
	l.Close()
	s.Close()

	reopen := func() []Message {
		s := openStore(t, path)
		l := openLog(t, Options{Store: s, Partitions: 2})
		var all []Message
		for p := range 2 {
			cur, _ := l.OpenCursor(p, Earliest())
			all = append(all, readAll(t, cur)...)
		}
		l.Close()
		s.Close()
		return all
	}
	first := reopen()
	if len(first) != 12 {
		t.Fatalf("%d messages after renumbering", len(first))
	}
	for _, m := range first {
		if m.Partition != PartitionOf(m.DeviceID, 2) || m.PartitionSequenceNumber < highSeq || m.Offset < highOff {
			t.Fatalf("renumbered %+v: want partition %d, numbers from %d, offsets from %d", m, PartitionOf(m.DeviceID, 2), highSeq, highOff)
		}
	}
	// The new places were stored: the next start keeps them.
	if second := reopen(); !slicesEqualPlaces(first, second) {
		t.Fatalf("places changed on the next start:\n%v\n%v", places(first), places(second))
	}
}

func places(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("#%d %s p%d #%d @%d", m.SequenceNumber, m.DeviceID, m.Partition, m.PartitionSequenceNumber, m.Offset))
	}
	return out
}

func slicesEqualPlaces(a, b []Message) bool { return slices.Equal(places(a), places(b)) }

// testdata/v1-store.db was written by the log before partitions existed:
// twelve messages from five devices, 1.5 s apart from 2026-03-01T12:00Z.
func copyV1Store(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v1-store.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := tempDB(t)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenStoreWrittenBeforePartitions(t *testing.T) {
	path := copyV1Store(t)
	c := newClock()
	c.Advance(time.Minute)

	s := openStore(t, path)
	// It is what it says: records without partition places, no partition record.
	err := s.ForEach(store.Telemetry, func(k string, v []byte) error {
		if k == partitionsKey || bytes.Contains(v, []byte(`"partition`)) || bytes.Contains(v, []byte(`"offset"`)) {
			return fmt.Errorf("key %q: %s", keyString(k), v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("golden store is not of the old format: %v", err)
	}

	l, err := Open(Options{Store: s, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	listing := func(l *Log) []byte {
		var b bytes.Buffer
		for p := range l.Partitions() {
			info, _ := l.PartitionInfo(p)
			fmt.Fprintf(&b, "partition %d: begin %d last %d offset %d empty %v\n", p, info.BeginSequenceNumber, info.LastSequenceNumber, info.LastOffset, info.Empty)
			cur, _ := l.OpenCursor(p, Earliest())
			for _, m := range readAll(t, cur) {
				fmt.Fprintf(&b, "  #%d %s", m.PartitionSequenceNumber, m.DeviceID)
				if m.ModuleID != "" {
					fmt.Fprintf(&b, "/%s", m.ModuleID)
				}
				fmt.Fprintf(&b, " offset %d hub #%d %s %s\n", m.Offset, m.SequenceNumber, m.EnqueuedTime.Format(time.RFC3339Nano), m.Body)
			}
		}
		return b.Bytes()
	}
	got := listing(l)
	testkit.Golden(t, "v1-store.partitions.golden.txt", got)
	if all, next := l.Read(Filter{}, 100); len(all) != 12 || next != 13 {
		t.Fatalf("read-back after upgrade: %d messages, next %d", len(all), next)
	}
	m := mustAppend(t, l, msg("thermostat", "", "new"))
	if m.SequenceNumber != 13 || m.Partition != 0 || m.PartitionSequenceNumber != 5 || m.Offset != 176 {
		t.Fatalf("first message after upgrade: hub #%d partition %d #%d offset %d", m.SequenceNumber, m.Partition, m.PartitionSequenceNumber, m.Offset)
	}
	l.Close()
	s.Close()

	// The places were stored, so the next start finds them as they were.
	s = openStore(t, path)
	l = openLog(t, Options{Store: s, Now: c.Now})
	again := listing(l)
	for _, line := range bytes.Split(got, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("  #")) && !bytes.Contains(again, line) {
			t.Fatalf("after a second start %q is gone:\n%s", line, again)
		}
	}
	// A fresh copy gives exactly the same places: the upgrade is deterministic.
	s2 := openStore(t, copyV1Store(t))
	l2 := openLog(t, Options{Store: s2, Now: c.Now})
	if again := listing(l2); !bytes.Equal(again, got) {
		t.Fatalf("a second upgrade differs:\n%s\nwant\n%s", again, got)
	}
}

// Appends go on at nearly full speed while every partition has a consumer
// draining it, because readers hold the log's lock only to copy slice
// entries, and a cursor waits on its partition's channel instead of polling.
// The benchmark measures both in one run and reports the ratio
// consumed/alone; ns/op covers both and means little. The file store is the
// realistic case (appends wait for fsync); with the memory store, appenders
// and consumers compete for CPU, so the ratio there shows the CPU the
// consumers' copies take more than any waiting on the log.
func BenchmarkAppendWithConsumers(b *testing.B) {
	for _, st := range []string{"file", "memory"} {
		b.Run("store="+st, func(b *testing.B) {
			rate := func(consumers bool) float64 {
				var s store.Store = store.OpenMemory()
				if st == "file" {
					s = openStore(b, filepath.Join(b.TempDir(), "hub.db"))
				}
				l := openLog(b, Options{Store: s, Partitions: DefaultPartitions})
				ctx, cancel := context.WithCancel(context.Background())
				var readers sync.WaitGroup
				if consumers {
					for p := range l.Partitions() {
						cur, err := l.OpenCursor(p, Latest())
						if err != nil {
							b.Fatal(err)
						}
						readers.Go(func() {
							for {
								if _, err := cur.Next(ctx, 100); err != nil {
									return
								}
							}
						})
					}
				}
				const appenders = 16
				n := b.N
				var wg sync.WaitGroup
				start := time.Now()
				for a := range appenders {
					wg.Go(func() {
						m := Message{DeviceID: fmt.Sprintf("bench-device-%d", a), Body: []byte(`{"temperature":21.5,"humidity":40.25}`)}
						for i := a; i < n; i += appenders {
							if _, err := l.Append(context.Background(), m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				cancel()
				readers.Wait()
				l.Close()
				return float64(n) / elapsed.Seconds()
			}
			// Alternate the two, so warm-up and the disk's moods fall on both;
			// b.N messages are appended in each of the rounds.
			const rounds = 3
			var alone, with float64
			for range rounds {
				alone += rate(false) / rounds
				with += rate(true) / rounds
			}
			b.ReportMetric(alone, "msgs/s-alone")
			b.ReportMetric(with, "msgs/s-consumed")
			b.ReportMetric(with/alone, "ratio")
		})
	}
}
