package d2c

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestRestartKeepsMessagesAndNumbering(t *testing.T) {
	path := tempDB(t)
	c := newClock()
	s := openStore(t, path)
	l, err := Open(Options{Store: s, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	var sent []Message
	for i := range 5 {
		m := Message{
			DeviceID:         fmt.Sprintf("dev%d", i%2),
			ModuleID:         []string{"", "mod"}[i%2],
			SystemProperties: SystemProperties(map[string]string{"mid": fmt.Sprint(i), "ct": "application/json"}),
			Properties:       map[string]string{"n": fmt.Sprint(i)},
			Body:             []byte{0xff, byte(i), 0x00},
		}
		sent = append(sent, mustAppend(t, l, m))
		c.Advance(time.Second)
	}
	l.Close()
	s.Close()

	s2 := openStore(t, path)
	l2 := openLog(t, Options{Store: s2, Now: c.Now})
	got, next := l2.Read(Filter{}, 100)
	if !reflect.DeepEqual(got, sent) {
		t.Fatalf("after restart:\n got %+v\nwant %+v", got, sent)
	}
	if next != 6 {
		t.Fatalf("next %d after restart", next)
	}
	if m := mustAppend(t, l2, msg("dev0", "", "after")); m.SequenceNumber != 6 || m.EnqueuedTime.Before(sent[4].EnqueuedTime) {
		t.Fatalf("first message after restart: #%d at %v", m.SequenceNumber, m.EnqueuedTime)
	}
}

func TestRestartNeverReusesNumbers(t *testing.T) {
	path := tempDB(t)
	c := newClock()
	s := openStore(t, path)
	l, err := Open(Options{Store: s, Now: c.Now, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, l, msg("d", "", "x"))
	}
	l.Close()
	s.Close()

	// Everything has expired by the time the hub comes back.
	c.Advance(2 * time.Hour)
	s2 := openStore(t, path)
	l2 := openLog(t, Options{Store: s2, Now: c.Now, MaxAge: time.Hour})
	if got, next := l2.Read(Filter{}, 10); len(got) != 0 || next != 4 {
		t.Fatalf("after restart past MaxAge: %v next %d", seqs(got), next)
	}
	if keys, meta := storedSeqs(t, s2); len(keys) != 0 || !meta {
		t.Fatalf("expired messages left in the store: %v (sequence record %v)", keys, meta)
	}
	if m := mustAppend(t, l2, msg("d", "", "y")); m.SequenceNumber != 4 {
		t.Fatalf("a number was reused: #%d", m.SequenceNumber)
	}
}

func TestRestartWithASmallerLimitTrims(t *testing.T) {
	path := tempDB(t)
	s := openStore(t, path)
	l, err := Open(Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	// More than one deletion chunk will have to go; concurrent appends
	// share commits, which keeps this quick.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 75 {
				if _, err := l.Append(context.Background(), msg("d", "", "x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	s.Close()

	s2 := openStore(t, path)
	l2 := openLog(t, Options{Store: s2, MaxMessages: 4})
	if got, _ := l2.Read(Filter{}, 10); !slices.Equal(seqs(got), seqRange(597, 600)) {
		t.Fatalf("log after reopening with a smaller limit: %v", seqs(got))
	}
	if keys, _ := storedSeqs(t, s2); !slices.Equal(keys, seqRange(597, 600)) {
		t.Fatalf("store after reopening with a smaller limit: %d records", len(keys))
	}
}

func TestRestartDropsUnreadableRecords(t *testing.T) {
	path := tempDB(t)
	c := newClock()
	s := openStore(t, path)
	l, err := Open(Options{Store: s, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	good := mustAppend(t, l, msg("d", "", "ok"))
	l.Close()
	bad := []store.Op{
		{Bucket: store.Telemetry, Key: seqKey(2), Value: []byte("not json")},
		{Bucket: store.Telemetry, Key: seqKey(3), Value: []byte(`{"sequenceNumber":4,"deviceId":"d","enqueuedTime":"2026-03-01T12:00:00Z"}`)},
		{Bucket: store.Telemetry, Key: seqKey(5), Value: []byte(`{"sequenceNumber":5,"enqueuedTime":"2026-03-01T12:00:00Z"}`)},
		{Bucket: store.Telemetry, Key: "stray", Value: []byte(`{}`)},
	}
	if err := s.Apply(context.Background(), bad...); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openStore(t, path)
	l2 := openLog(t, Options{Store: s2, Now: c.Now})
	if got, _ := l2.Read(Filter{}, 10); len(got) != 1 || !reflect.DeepEqual(got[0], good) {
		t.Fatalf("log after loading bad records: %+v", got)
	}
	keys, _ := storedSeqs(t, s2)
	if !slices.Equal(keys, []int64{1}) {
		t.Fatalf("bad records left in the store: %v", keys)
	}
	if v, _ := s2.Get(store.Telemetry, "stray"); v != nil {
		t.Fatal("stray record left in the store")
	}
}

func TestStoredRecordIsJSON(t *testing.T) {
	s := openStore(t, tempDB(t))
	l := openLog(t, Options{Store: s})
	m := mustAppend(t, l, msg("d", "", "hello"))
	v, err := s.Get(store.Telemetry, seqKey(m.SequenceNumber))
	if err != nil || v == nil {
		t.Fatalf("record: %v %v", v, err)
	}
	var back map[string]any
	if err := json.Unmarshal(v, &back); err != nil {
		t.Fatalf("record is not JSON: %v", err)
	}
	if back["deviceId"] != "d" || back["body"] != "aGVsbG8=" || back["sequenceNumber"] != float64(1) {
		t.Fatalf("record = %s", v)
	}
	meta, _ := s.Get(store.Telemetry, metaKey)
	if string(meta) != `{"lastSequenceNumber":1}` {
		t.Fatalf("sequence record = %s", meta)
	}
}
