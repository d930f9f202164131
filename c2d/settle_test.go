package c2d

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestSettleWithBadOrLostLock(t *testing.T) {
	clock := newFakeClock()
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Now: clock.Now})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", text("x")); err != nil {
		t.Fatal(err)
	}
	token := tr.last().msg.LockToken
	settlers := map[string]func(context.Context, string, string) error{
		"complete": q.Complete, "abandon": q.Abandon, "reject": q.Reject,
	}
	for name, settle := range settlers {
		wantCode(t, settle(ctx, "d1", "not-a-token"), errcode.DeviceMessageLockLost)
		wantCode(t, settle(ctx, "d1", ""), errcode.DeviceMessageLockLost)
		wantCode(t, settle(ctx, "other-device", token), errcode.DeviceMessageLockLost)
		if q.Pending("d1") != 1 {
			t.Fatalf("%s with a bad token changed the queue", name)
		}
	}
	// The lock ran out: settling with its token is refused and changes
	// nothing, whether or not the scheduler has released the lock yet. The
	// device goes offline first, so a release the scheduler makes
	// meanwhile does not redeliver (which would count a delivery).
	tr.setOnline("d1", false)
	clock.Advance(DefaultLockTimeout)
	for name, settle := range settlers {
		wantCode(t, settle(ctx, "d1", token), errcode.DeviceMessageLockLost)
		if m := q.Messages("d1"); len(m) != 1 || m[0].DeliveryCount != 1 {
			t.Fatalf("%s after lock loss changed the queue: %+v", name, m)
		}
	}
}

func TestAbandonMakesVisibleAgain(t *testing.T) {
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr})
	ctx := context.Background()
	for _, b := range []string{"first", "second"} {
		if _, err := q.Enqueue(ctx, "d1", text(b)); err != nil {
			t.Fatal(err)
		}
	}
	first := tr.all()[0]
	if err := q.Abandon(ctx, "d1", first.msg.LockToken); err != nil {
		t.Fatal(err)
	}
	// Redelivered at once (the device is ready), counted twice.
	if got := tr.bodies("d1"); !slices.Equal(got, []string{"first", "second", "first"}) {
		t.Fatalf("delivered %v", got)
	}
	if d := tr.last(); d.msg.DeliveryCount != 2 {
		t.Errorf("delivery count %d", d.msg.DeliveryCount)
	}
	if q.Pending("d1") != 2 {
		t.Errorf("pending %d", q.Pending("d1"))
	}
	wantCode(t, q.Abandon(ctx, "d1", first.msg.LockToken), errcode.DeviceMessageLockLost)
}

func TestDeliveryCountExhaustion(t *testing.T) {
	tests := []struct {
		name      string
		abandon   bool // end deliveries by abandoning, else by letting the lock run out
		ack       string
		wantFeeds int
	}{
		{"abandoned, full ack", true, AckFull, 1},
		{"lock timeouts, negative ack", false, AckNegative, 1},
		{"abandoned, positive ack", true, AckPositive, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			tr := newFakeTransport("d1")
			q := openQueues(t, Options{Transport: tr, Now: clock.Now, MaxDeliveryCount: 3})
			ctx := context.Background()
			m, err := q.Enqueue(ctx, "d1", Message{MessageID: "m1", Ack: tt.ack})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				if n := len(tr.all()); n != i {
					t.Fatalf("%d deliveries, want %d", n, i)
				}
				if tt.abandon {
					if err := q.Abandon(ctx, "d1", tr.last().msg.LockToken); err != nil {
						t.Fatal(err)
					}
				} else {
					clock.Advance(DefaultLockTimeout)
					q.sweep(ctx)
				}
			}
			if n := len(tr.all()); n != 3 {
				t.Fatalf("delivered %d times, want the maximum 3", n)
			}
			if q.Pending("d1") != 0 {
				t.Fatal("message not dead-lettered")
			}
			fb := q.Feedback()
			if len(fb) != tt.wantFeeds {
				t.Fatalf("feedback %+v", fb)
			}
			if tt.wantFeeds == 1 && (fb[0].StatusCode != StatusDeliveryCountExceeded || fb[0].OriginalMessageID != m.MessageID) {
				t.Fatalf("feedback %+v", fb[0])
			}
		})
	}
}

func TestReject(t *testing.T) {
	for _, ack := range []string{AckNone, AckPositive, AckNegative, AckFull} {
		t.Run(ack, func(t *testing.T) {
			tr := newFakeTransport("d1")
			q := openQueues(t, Options{Transport: tr})
			ctx := context.Background()
			if _, err := q.Enqueue(ctx, "d1", Message{Ack: ack}); err != nil {
				t.Fatal(err)
			}
			if err := q.Reject(ctx, "d1", tr.last().msg.LockToken); err != nil {
				t.Fatal(err)
			}
			if q.Pending("d1") != 0 || len(tr.all()) != 1 {
				t.Fatalf("pending %d deliveries %d", q.Pending("d1"), len(tr.all()))
			}
			fb := q.Feedback()
			want := ack == AckNegative || ack == AckFull
			if (len(fb) == 1) != want || (want && fb[0].StatusCode != StatusRejected) {
				t.Fatalf("feedback %+v", fb)
			}
		})
	}
}

func TestExpiryDeadLetters(t *testing.T) {
	tests := []struct {
		name       string
		ack        string
		online     bool // delivered and locked when it expires
		wantStatus string
	}{
		{"queued, full", AckFull, false, StatusExpired},
		{"queued, negative", AckNegative, false, StatusExpired},
		{"queued, positive", AckPositive, false, ""},
		{"queued, none", AckNone, false, ""},
		{"locked when it expires, full", AckFull, true, StatusExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			var pl pendingLog
			tr := newFakeTransport()
			q := openQueues(t, Options{Transport: tr, PendingChanged: pl.record, Now: clock.Now, DefaultTTL: 30 * time.Second})
			tr.setOnline("d1", tt.online)
			ctx := context.Background()
			m, err := q.Enqueue(ctx, "d1", Message{Ack: tt.ack})
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(29 * time.Second)
			q.sweep(ctx)
			if q.Pending("d1") != 1 {
				t.Fatal("expired early")
			}
			clock.Advance(time.Second)
			if tt.online {
				// Expired while locked: it stays until the lock runs out.
				q.sweep(ctx)
				if q.Pending("d1") != 1 {
					t.Fatal("a locked message was dead-lettered before its lock ran out")
				}
				clock.Advance(DefaultLockTimeout)
			}
			q.sweep(ctx)
			if q.Pending("d1") != 0 {
				t.Fatal("not dead-lettered")
			}
			tr.setOnline("d1", true)
			q.DeviceReady("d1")
			if n := len(tr.all()); (tt.online && n != 1) || (!tt.online && n != 0) {
				t.Fatalf("an expired message was delivered (%d deliveries)", n)
			}
			fb := q.Feedback()
			if tt.wantStatus == "" {
				if len(fb) != 0 {
					t.Fatalf("feedback %+v", fb)
				}
			} else if len(fb) != 1 || fb[0].StatusCode != tt.wantStatus || fb[0].OriginalMessageID != m.MessageID || !fb[0].EnqueuedTime.Equal(clock.Now()) {
				t.Fatalf("feedback %+v", fb)
			}
			if got := pl.get("d1"); !slices.Equal(got, []int{1, 0}) {
				t.Errorf("PendingChanged %v", got)
			}
		})
	}
}

func TestCompleteStillWorksAfterExpiryWhileLocked(t *testing.T) {
	clock := newFakeClock()
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Now: clock.Now, DefaultTTL: time.Second})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", Message{Ack: AckFull}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	q.sweep(ctx)
	tr.last().ack()
	fb := q.Feedback()
	if q.Pending("d1") != 0 || len(fb) != 1 || fb[0].StatusCode != StatusSuccess {
		t.Fatalf("pending %d feedback %+v", q.Pending("d1"), fb)
	}
}
