package c2d

import (
	"context"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestFeedbackFollowsTheAckMode(t *testing.T) {
	type outcome int
	const (
		complete outcome = iota
		reject
		expire
	)
	tests := []struct {
		ack     string
		outcome outcome
		want    string // status code, "" for no feedback
	}{
		{AckNone, complete, ""},
		{AckNone, reject, ""},
		{AckNone, expire, ""},
		{AckPositive, complete, StatusSuccess},
		{AckPositive, reject, ""},
		{AckPositive, expire, ""},
		{AckNegative, complete, ""},
		{AckNegative, reject, StatusRejected},
		{AckNegative, expire, StatusExpired},
		{AckFull, complete, StatusSuccess},
		{AckFull, reject, StatusRejected},
		{AckFull, expire, StatusExpired},
	}
	for _, tt := range tests {
		t.Run(tt.ack+"/"+[]string{"complete", "reject", "expire"}[tt.outcome], func(t *testing.T) {
			clock := newFakeClock()
			tr := newFakeTransport()
			q := openQueues(t, Options{Transport: tr,
				Now:                clock.Now,
				DeviceGenerationID: func(id string) string { return "gen-of-" + id },
			})
			ctx := context.Background()
			if _, err := q.Enqueue(ctx, "d1", Message{MessageID: "m-1", Ack: tt.ack}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Second)
			switch tt.outcome {
			case complete, reject:
				tr.setOnline("d1", true)
				q.DeviceReady("d1")
				settle := q.Complete
				if tt.outcome == reject {
					settle = q.Reject
				}
				if err := settle(ctx, "d1", tr.last().msg.LockToken); err != nil {
					t.Fatal(err)
				}
			case expire:
				clock.Advance(DefaultTTL)
				q.sweep(ctx)
			}
			if q.Pending("d1") != 0 {
				t.Fatal("message still pending")
			}
			fb := q.Feedback()
			if tt.want == "" {
				if len(fb) != 0 {
					t.Fatalf("unexpected feedback %+v", fb)
				}
				return
			}
			want := FeedbackRecord{
				OriginalMessageID:  "m-1",
				EnqueuedTime:       clock.Now(),
				StatusCode:         tt.want,
				Description:        description(tt.want),
				DeviceID:           "d1",
				DeviceGenerationID: "gen-of-d1",
			}
			if len(fb) != 1 || fb[0] != want {
				t.Fatalf("feedback %+v\nwant %+v", fb, want)
			}
		})
	}
}

func TestFeedbackExpiresAfterItsTTL(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, t.TempDir())
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Store: s, Now: clock.Now, FeedbackTTL: 10 * time.Minute})
	tr.autoAck = true
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", Message{Ack: AckPositive}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := q.Enqueue(ctx, "d1", Message{Ack: AckPositive}); err != nil {
		t.Fatal(err)
	}
	if n := len(keys(t, s, store.Feedback)); n != 2 {
		t.Fatalf("%d feedback records stored", n)
	}
	clock.Advance(5 * time.Minute)
	q.sweep(ctx)
	if n := len(q.Feedback()); n != 1 {
		t.Fatalf("%d records after the first one's TTL", n)
	}
	if n := len(keys(t, s, store.Feedback)); n != 1 {
		t.Fatalf("%d feedback records stored after expiry", n)
	}
	clock.Advance(5 * time.Minute)
	q.sweep(ctx)
	if len(q.Feedback()) != 0 || len(keys(t, s, store.Feedback)) != 0 {
		t.Fatal("feedback kept past its TTL")
	}
}

func TestFeedbackReceiveCompleteAbandon(t *testing.T) {
	clock := newFakeClock()
	s := openStore(t, t.TempDir())
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Store: s, Now: clock.Now, LockTimeout: time.Minute})
	tr.autoAck = true
	ctx := context.Background()
	if _, ok := q.ReceiveFeedback(); ok {
		t.Fatal("a batch with no feedback")
	}
	enqueue := func(id string) {
		t.Helper()
		if _, err := q.Enqueue(ctx, "d1", Message{MessageID: id, Ack: AckFull}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("a")
	enqueue("b")

	b1, ok := q.ReceiveFeedback()
	if !ok || len(b1.Records) != 2 || b1.Records[0].OriginalMessageID != "a" || b1.LockToken == "" {
		t.Fatalf("batch %+v", b1)
	}
	if _, ok := q.ReceiveFeedback(); ok {
		t.Fatal("locked records handed out twice")
	}
	enqueue("c")
	b2, ok := q.ReceiveFeedback()
	if !ok || len(b2.Records) != 1 || b2.Records[0].OriginalMessageID != "c" {
		t.Fatalf("second batch %+v", b2)
	}

	// Abandon: receivable again; the old token is spent.
	if err := q.AbandonFeedback(b2.LockToken); err != nil {
		t.Fatal(err)
	}
	wantCode(t, q.AbandonFeedback(b2.LockToken), errcode.DeviceMessageLockLost)
	wantCode(t, q.CompleteFeedback(ctx, b2.LockToken), errcode.DeviceMessageLockLost)

	// Complete: gone from memory and disk.
	if err := q.CompleteFeedback(ctx, b1.LockToken); err != nil {
		t.Fatal(err)
	}
	wantCode(t, q.CompleteFeedback(ctx, b1.LockToken), errcode.DeviceMessageLockLost)
	if fb := q.Feedback(); len(fb) != 1 || fb[0].OriginalMessageID != "c" {
		t.Fatalf("kept %+v", fb)
	}
	if n := len(keys(t, s, store.Feedback)); n != 1 {
		t.Fatalf("%d records stored", n)
	}

	// A batch whose lock ran out cannot be completed and is handed out again.
	b3, ok := q.ReceiveFeedback()
	if !ok || len(b3.Records) != 1 {
		t.Fatalf("batch %+v", b3)
	}
	clock.Advance(time.Minute)
	wantCode(t, q.CompleteFeedback(ctx, b3.LockToken), errcode.DeviceMessageLockLost)
	b4, ok := q.ReceiveFeedback()
	if !ok || len(b4.Records) != 1 || b4.LockToken == b3.LockToken {
		t.Fatalf("batch after lock loss %+v", b4)
	}
	if err := q.CompleteFeedback(ctx, `unknown`); !errcode.Is(err, errcode.DeviceMessageLockLost) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := q.CompleteFeedback(ctx, b4.LockToken); err != nil {
		t.Fatal(err)
	}
	if len(q.Feedback()) != 0 {
		t.Fatal("feedback left")
	}
}

func TestFeedbackAddedWakesAReceiver(t *testing.T) {
	tr := newFakeTransport("d1")
	tr.autoAck = true
	q := openQueues(t, Options{Transport: tr})
	added := q.FeedbackAdded()
	select {
	case <-added:
		t.Fatal("FeedbackAdded closed before any feedback")
	default:
	}
	// A message without feedback does not wake it; one with feedback does.
	if _, err := q.Enqueue(context.Background(), "d1", Message{Body: []byte("quiet")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-added:
		t.Fatal("FeedbackAdded closed by a message that asked for no feedback")
	default:
	}
	if _, err := q.Enqueue(context.Background(), "d1", Message{Ack: AckPositive}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("FeedbackAdded not closed after a completion with ack positive")
	}
	if _, ok := q.ReceiveFeedback(); !ok {
		t.Fatal("no feedback to receive after the wake-up")
	}
	if next := q.FeedbackAdded(); next == added {
		t.Fatal("FeedbackAdded returned the closed channel again")
	}
}
