package c2d

import (
	"context"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestReceiveLocksInOrderAndSettles(t *testing.T) {
	clock := newFakeClock()
	q := openQueues(t, Options{Transport: newFakeTransport(), Now: clock.Now})
	ctx := context.Background()
	if _, ok, err := q.Receive("d1"); ok || err != nil {
		t.Fatalf("empty queue: ok %v, err %v", ok, err)
	}
	for _, b := range []string{"first", "second", "third"} {
		if _, err := q.Enqueue(ctx, "d1", Message{Body: []byte(b), Ack: AckFull}); err != nil {
			t.Fatal(err)
		}
	}
	first, ok, err := q.Receive("d1")
	if !ok || err != nil || string(first.Body) != "first" || first.LockToken == "" || first.DeliveryCount != 1 {
		t.Fatalf("first receive: %+v %v %v", first, ok, err)
	}
	second, _, _ := q.Receive("d1")
	if string(second.Body) != "second" || second.LockToken == first.LockToken {
		t.Fatalf("second receive: %+v", second)
	}
	third, _, _ := q.Receive("d1")
	if _, ok, _ := q.Receive("d1"); ok {
		t.Fatal("a locked message was handed out again")
	}

	if err := q.Complete(ctx, "d1", first.LockToken); err != nil {
		t.Fatal(err)
	}
	if err := q.Reject(ctx, "d1", third.LockToken); err != nil {
		t.Fatal(err)
	}
	if err := q.Abandon(ctx, "d1", second.LockToken); err != nil {
		t.Fatal(err)
	}
	again, ok, _ := q.Receive("d1")
	if !ok || string(again.Body) != "second" || again.DeliveryCount != 2 {
		t.Fatalf("after abandon: %+v", again)
	}
	wantCode(t, q.Complete(ctx, "d1", second.LockToken), errcode.DeviceMessageLockLost)

	// The lock runs out: the message is visible again, delivered a third time.
	clock.Advance(DefaultLockTimeout + time.Second)
	wantCode(t, q.Complete(ctx, "d1", again.LockToken), errcode.DeviceMessageLockLost)
	// The scheduler sleeps on a real timer; settle what the fake clock
	// made due now, as the other clock tests do.
	q.sweep(ctx)
	last, ok, _ := q.Receive("d1")
	if !ok || string(last.Body) != "second" || last.DeliveryCount != 3 {
		t.Fatalf("after the lock ran out: %+v", last)
	}

	statuses := map[string]bool{}
	for _, f := range q.Feedback() {
		statuses[f.StatusCode] = true
	}
	if !statuses[StatusSuccess] || !statuses[StatusRejected] || len(statuses) != 2 {
		t.Fatalf("feedback %+v", q.Feedback())
	}
}

func TestReceiveAfterClose(t *testing.T) {
	q := openQueues(t, Options{Transport: newFakeTransport()})
	q.Close()
	if _, _, err := q.Receive("d1"); !errcode.Is(err, errcode.ServiceUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
