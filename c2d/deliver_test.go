package c2d

import (
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestDeliveryInOrderAndAckCompletes(t *testing.T) {
	clock := newFakeClock()
	var pl pendingLog
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, PendingChanged: pl.record, Now: clock.Now})
	ctx := context.Background()
	for _, b := range []string{"one", "two", "three"} {
		if _, err := q.Enqueue(ctx, "d1", text(b)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.bodies("d1"); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("delivered %v", got)
	}
	for _, d := range tr.all() {
		if d.msg.DeliveryCount != 1 || d.msg.LockToken == "" {
			t.Errorf("delivery %+v: want count 1 and a lock token", d.msg)
		}
	}
	for _, m := range q.Messages("d1") {
		if m.LockToken == "" {
			t.Errorf("%s delivered but not locked", m.Body)
		}
	}
	// A delivered message is still pending until the device completes it.
	if q.Pending("d1") != 3 {
		t.Fatalf("pending %d", q.Pending("d1"))
	}
	all := tr.all()
	all[1].ack()
	all[1].ack() // a second ack of the same delivery changes nothing
	all[0].ack()
	if q.Pending("d1") != 1 || string(q.Messages("d1")[0].Body) != "three" {
		t.Fatalf("after two acks: %+v", q.Messages("d1"))
	}
	if got, want := pl.get("d1"), []int{1, 2, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("PendingChanged %v, want %v", got, want)
	}
	if len(q.Feedback()) != 0 {
		t.Errorf("ack none produced feedback %v", q.Feedback())
	}
}

func TestOfflineDeviceGetsMessagesWhenReady(t *testing.T) {
	tr := newFakeTransport()
	q := openQueues(t, Options{Transport: tr})
	ctx := context.Background()
	for _, b := range []string{"a", "b"} {
		if _, err := q.Enqueue(ctx, "d1", text(b)); err != nil {
			t.Fatal(err)
		}
	}
	if len(tr.all()) != 0 {
		t.Fatal("delivered to an offline device")
	}
	for _, m := range q.Messages("d1") {
		if m.DeliveryCount != 0 || m.LockToken != "" {
			t.Fatalf("a refused delivery was counted: %+v", m)
		}
	}
	q.DeviceReady("d1") // still offline: nothing happens
	tr.setOnline("d1", true)
	q.DeviceReady("d1")
	if got := tr.bodies("d1"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("delivered %v", got)
	}
	q.DeviceReady("d1") // locked messages are not delivered twice
	if n := len(tr.all()); n != 2 {
		t.Fatalf("%d deliveries after a second DeviceReady", n)
	}
	q.DeviceReady("nobody") // an unknown device is no error
}

func TestOfflineDeviceKeepsMessagesQueued(t *testing.T) {
	q := openQueues(t, Options{})
	if _, err := q.Enqueue(context.Background(), "d1", text("a")); err != nil {
		t.Fatal(err)
	}
	q.DeviceReady("d1")
	if m := q.Messages("d1"); len(m) != 1 || m[0].LockToken != "" {
		t.Fatalf("messages %+v", m)
	}
}

func TestAckInsideDeliver(t *testing.T) {
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr})
	tr.autoAck = true
	for range 3 {
		if _, err := q.Enqueue(context.Background(), "d1", Message{Ack: AckPositive}); err != nil {
			t.Fatal(err)
		}
	}
	if q.Pending("d1") != 0 || len(tr.all()) != 3 || len(q.Feedback()) != 3 {
		t.Fatalf("pending %d, deliveries %d, feedback %d", q.Pending("d1"), len(tr.all()), len(q.Feedback()))
	}
}

func TestLockTimeoutRedelivers(t *testing.T) {
	clock := newFakeClock()
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Now: clock.Now, LockTimeout: time.Minute})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", text("x")); err != nil {
		t.Fatal(err)
	}
	first := tr.last()

	clock.Advance(59 * time.Second)
	q.sweep(ctx)
	if len(tr.all()) != 1 {
		t.Fatal("redelivered before the lock ran out")
	}
	clock.Advance(time.Second)
	q.sweep(ctx)
	if len(tr.all()) != 2 {
		t.Fatalf("%d deliveries after the lock ran out", len(tr.all()))
	}
	second := tr.last()
	if second.msg.DeliveryCount != 2 || second.msg.LockToken == first.msg.LockToken {
		t.Fatalf("redelivery %+v", second.msg)
	}
	// The first delivery's lock is gone: its late ack is refused.
	wantCode(t, q.Complete(ctx, "d1", first.msg.LockToken), errcode.DeviceMessageLockLost)
	if err := q.Complete(ctx, "d1", second.msg.LockToken); err != nil {
		t.Fatal(err)
	}
	if q.Pending("d1") != 0 {
		t.Fatal("not completed")
	}
}

func TestLockTimeoutWhileOfflineWaitsForReady(t *testing.T) {
	clock := newFakeClock()
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, Now: clock.Now})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", text("x")); err != nil {
		t.Fatal(err)
	}
	tr.setOnline("d1", false)
	clock.Advance(DefaultLockTimeout)
	q.sweep(ctx)
	m := q.Messages("d1")
	if len(m) != 1 || m[0].LockToken != "" || m[0].DeliveryCount != 1 {
		t.Fatalf("after the lock ran out offline: %+v", m)
	}
	tr.setOnline("d1", true)
	q.DeviceReady("d1")
	if d := tr.last(); len(tr.all()) != 2 || d.msg.DeliveryCount != 2 {
		t.Fatalf("redelivery %+v", d.msg)
	}
}

func TestSchedulerRunsOnItsOwn(t *testing.T) {
	// Real clock, short timeouts: nobody calls sweep by hand.
	tr := newFakeTransport("d1")
	q := openQueues(t, Options{Transport: tr, LockTimeout: 20 * time.Millisecond})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", text("redeliver me")); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, 5*time.Second, "a redelivery after the lock timeout", func() bool { return len(tr.bodies("d1")) >= 2 })

	if _, err := q.Enqueue(ctx, "d2", Message{Ack: AckFull, ExpiryTime: time.Now().Add(20 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, 5*time.Second, "expiry feedback", func() bool {
		fb := q.Feedback()
		return len(fb) == 1 && fb[0].StatusCode == StatusExpired && q.Pending("d2") == 0
	})
}
