package c2d

import (
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestRestartKeepsQueuesAndFeedback(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	ctx := context.Background()

	s1, err := store.Open(dir + "/hub.db")
	if err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport()
	q1, err := Open(Options{Transport: tr, Store: s1, Now: clock.Now, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Interleave two devices whose ids sort oddly as keys ("a/b" must not
	// mix with "a").
	devices := []string{"a", "a/b", "a-b"}
	for i := range 4 {
		for _, d := range devices {
			if _, err := q1.Enqueue(ctx, d, Message{Body: []byte(d + "#" + string(rune('0'+i))), Ack: AckFull, Properties: map[string]string{"i": string(rune('0' + i))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Device a: the first message completed (feedback), the second abandoned
	// once (delivery count 1 kept), the others locked when the hub stops.
	tr.setOnline("a", true)
	q1.DeviceReady("a")
	tr.setOnline("a", false) // so the abandoned message stays queued
	all := tr.all()
	all[0].ack()
	if err := q1.Abandon(ctx, "a", all[1].msg.LockToken); err != nil {
		t.Fatal(err)
	}
	before := map[string][]Message{}
	for _, d := range devices {
		before[d] = q1.Messages(d)
	}
	feedbackBefore := q1.Feedback()
	lastSeq := before["a-b"][3].SequenceNumber
	if len(feedbackBefore) != 1 {
		t.Fatalf("feedback %+v", feedbackBefore)
	}
	q1.Close()
	if err := s1.Check(); err != nil {
		t.Fatal(err)
	}
	s1.Close()

	s2 := openStore(t, dir)
	tr2 := newFakeTransport("a")
	q2 := openQueues(t, Options{Transport: tr2, Store: s2, Now: clock.Now})
	for _, d := range devices {
		got := q2.Messages(d)
		want := before[d]
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages after restart, want %d", d, len(got), len(want))
		}
		for i := range want {
			w := want[i]
			w.LockToken = "" // locks do not survive
			if d == "a" && i > 0 {
				// Deliveries in flight at shutdown never settled, so they are not counted.
				w.DeliveryCount = 0
			}
			if !equalMessages(got[i], w) {
				t.Errorf("%s[%d] after restart:\n got %+v\nwant %+v", d, i, got[i], w)
			}
		}
	}
	if got := q2.Messages("a"); got[0].DeliveryCount != 1 {
		t.Errorf("the abandoned message's delivery count was not kept: %+v", got[0])
	}
	if got := q2.Feedback(); !slices.Equal(got, feedbackBefore) {
		t.Errorf("feedback after restart %+v, want %+v", got, feedbackBefore)
	}
	m, err := q2.Enqueue(ctx, "a", text("new"))
	if err != nil {
		t.Fatal(err)
	}
	// The feedback record took the number after the last message.
	if m.SequenceNumber <= lastSeq+1 {
		t.Errorf("sequence number %d reused (last before restart %d)", m.SequenceNumber, lastSeq)
	}
	// Every message, including the one locked at shutdown, is deliverable.
	q2.DeviceReady("a")
	if got := tr2.bodies("a"); !slices.Equal(got, []string{"a#1", "a#2", "a#3", "new"}) {
		t.Fatalf("delivered after restart %v", got)
	}
}

func equalMessages(a, b Message) bool {
	return a.MessageID == b.MessageID && a.DeviceID == b.DeviceID && a.SequenceNumber == b.SequenceNumber &&
		string(a.Body) == string(b.Body) && a.Ack == b.Ack && a.EnqueuedTime.Equal(b.EnqueuedTime) &&
		a.ExpiryTime.Equal(b.ExpiryTime) && a.DeliveryCount == b.DeliveryCount && a.LockToken == b.LockToken &&
		len(a.Properties) == len(b.Properties) && a.Properties["i"] == b.Properties["i"]
}

func TestRestartDeadLettersWhatExpiredWhileDown(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	ctx := context.Background()
	s1, err := store.Open(dir + "/hub.db")
	if err != nil {
		t.Fatal(err)
	}
	q1, err := Open(Options{Store: s1, Transport: newFakeTransport(), Now: clock.Now, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q1.Enqueue(ctx, "d1", Message{MessageID: "short", Ack: AckNegative, ExpiryTime: clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := q1.Enqueue(ctx, "d1", Message{MessageID: "long"}); err != nil {
		t.Fatal(err)
	}
	q1.Close()
	s1.Close()

	clock.Advance(2 * time.Minute)
	s2 := openStore(t, dir)
	q2 := openQueues(t, Options{Store: s2, Now: clock.Now})
	testkit.EventuallyWithin(t, 5*time.Second, "the expired message to be dead-lettered", func() bool { return q2.Pending("d1") == 1 })
	fb := q2.Feedback()
	if len(fb) != 1 || fb[0].OriginalMessageID != "short" || fb[0].StatusCode != StatusExpired {
		t.Fatalf("feedback %+v", fb)
	}
	if m := q2.Messages("d1"); m[0].MessageID != "long" {
		t.Fatalf("left %+v", m)
	}
}

func TestOpenRefusesDamagedRecords(t *testing.T) {
	tests := []struct {
		name   string
		bucket string
		key    string
		value  string
	}{
		{"message not JSON", store.C2D, messageKey("d1", 1), "{"},
		{"message under the wrong key", store.C2D, messageKey("d1", 2), `{"deviceId":"d1","sequenceNumber":1,"body":null}`},
		{"message without device", store.C2D, "x/00000000000000000001", `{"sequenceNumber":1,"body":null}`},
		{"sequence not JSON", store.C2D, sequenceKey, "many"},
		{"feedback not JSON", store.Feedback, feedbackKey(1), "[]"},
		{"feedback under the wrong key", store.Feedback, feedbackKey(2), `{"sequenceNumber":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			if err := s.Apply(context.Background(), store.Op{Bucket: tt.bucket, Key: tt.key, Value: []byte(tt.value)}); err != nil {
				t.Fatal(err)
			}
			q, err := Open(Options{Store: s, Transport: newFakeTransport(), Logger: testLogger()})
			if err == nil {
				q.Close()
				t.Fatal("Open accepted a damaged record")
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name the record %q", err, tt.key)
			}
		})
	}
}

func TestMessageKeysSortInEnqueueOrder(t *testing.T) {
	ids := []string{"a", "a/b", "a-b", "a%2Fb", "ü"}
	for _, id := range ids {
		k9, k10 := messageKey(id, 9), messageKey(id, 10)
		if k9 >= k10 {
			t.Errorf("%q: %q sorts after %q", id, k9, k10)
		}
		for _, other := range ids {
			if other != id && strings.HasPrefix(messageKey(other, 1), strings.TrimSuffix(messageKey(id, 1), "00000000000000000001")) {
				t.Errorf("keys of %q fall inside the range of %q", other, id)
			}
		}
		if !strings.Contains(messageKey(id, 1), "/") || strings.Count(messageKey(id, 1), "/") != 1 {
			t.Errorf("%q: key %q must have exactly one '/'", id, messageKey(id, 1))
		}
	}
}

func TestStoreFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir + "/hub.db")
	if err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Store: s})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", Message{Ack: AckFull}); err != nil {
		t.Fatal(err)
	}
	token := tr.last().msg.LockToken

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Enqueue(cancelled, "d1", text("never")); err == nil {
		t.Fatal("enqueued with a cancelled context")
	}

	s.Close() // every later write fails
	if _, err := q.Enqueue(ctx, "d1", text("lost")); err == nil {
		t.Fatal("enqueue succeeded without a store")
	}
	if err := q.Complete(ctx, "d1", token); err == nil {
		t.Fatal("complete succeeded without a store")
	}
	if n, err := q.Purge(ctx, "d1"); err == nil || n != 0 {
		t.Fatalf("purge = %d, %v without a store", n, err)
	}
	m := q.Messages("d1")
	if len(m) != 1 || m[0].LockToken != token || len(q.Feedback()) != 0 {
		t.Fatalf("a failed write changed memory: %+v, feedback %+v", m, q.Feedback())
	}
	if len(tr.all()) != 1 {
		t.Fatalf("%d deliveries", len(tr.all()))
	}
}
