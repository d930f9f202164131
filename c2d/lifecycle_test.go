package c2d

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// queueCount is how many device queues the queues hold in memory.
func queueCount(q *Queues) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.devices)
}

// A queue lives while it holds messages: deleted devices, sends to devices
// that do not exist and queues that emptied leave nothing behind, and the
// pending count still ends at 0.
func TestQueuesAreDroppedOnceEmpty(t *testing.T) {
	tests := []struct {
		name       string
		run        func(t *testing.T, q *Queues, tr *fakeTransport)
		wantNotify []int // PendingChanged reports for d1
	}{
		{"device deleted with messages", func(t *testing.T, q *Queues, _ *fakeTransport) {
			enqueue(t, q, "d1", "a", "b")
			if err := q.DeleteDevice(context.Background(), "d1"); err != nil {
				t.Fatal(err)
			}
		}, []int{1, 2}},
		{"device deleted with a message held by the device", func(t *testing.T, q *Queues, tr *fakeTransport) {
			tr.setOnline("d1", true)
			enqueue(t, q, "d1", "held")
			if err := q.DeleteDevice(context.Background(), "d1"); err != nil {
				t.Fatal(err)
			}
			tr.last().ack() // too late: the lock is lost, nothing comes back
		}, []int{1}},
		{"purged", func(t *testing.T, q *Queues, _ *fakeTransport) {
			enqueue(t, q, "d1", "a", "b")
			if n, err := q.Purge(context.Background(), "d1"); err != nil || n != 2 {
				t.Fatalf("Purge = %d, %v", n, err)
			}
		}, []int{1, 2, 0}},
		{"last message completed", func(t *testing.T, q *Queues, tr *fakeTransport) {
			tr.setOnline("d1", true)
			enqueue(t, q, "d1", "a")
			tr.last().ack()
		}, []int{1, 0}},
		{"last message rejected", func(t *testing.T, q *Queues, tr *fakeTransport) {
			tr.setOnline("d1", true)
			enqueue(t, q, "d1", "a")
			if err := q.Reject(context.Background(), "d1", tr.last().msg.LockToken); err != nil {
				t.Fatal(err)
			}
		}, []int{1, 0}},
		{"send to a device that does not exist", func(t *testing.T, q *Queues, _ *fakeTransport) {
			_, err := q.Enqueue(context.Background(), "ghost", text("x"))
			wantCode(t, err, errcode.DeviceNotFound)
		}, nil},
		{"device never had a queue", func(t *testing.T, q *Queues, _ *fakeTransport) {
			q.DeviceReady("d1")
			if err := q.DeleteDevice(context.Background(), "d1"); err != nil {
				t.Fatal(err)
			}
			if err := q.Complete(context.Background(), "d1", "no-such-token"); err == nil {
				t.Fatal("completed a message that never was")
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pl pendingLog
			tr := newFakeTransport()
			q := openQueues(t, Options{Transport: tr, PendingChanged: pl.record,
				Store:        openStore(t, t.TempDir()),
				DeviceExists: func(id string) bool { return id != "ghost" },
			})

			tt.run(t, q, tr)

			if n := queueCount(q); n != 0 {
				t.Errorf("%d queues left in memory, want 0", n)
			}
			if got := pl.get("d1"); !slices.Equal(got, tt.wantNotify) {
				t.Errorf("PendingChanged(d1) = %v, want %v", got, tt.wantNotify)
			}
			if q.Pending("d1") != 0 || len(q.Messages("d1")) != 0 {
				t.Errorf("d1 still has %d pending", q.Pending("d1"))
			}
		})
	}
}

// A queue read back from the store is dropped like any other once its
// device is deleted.
func TestLoadedQueueIsDroppedOnDelete(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	q := openQueues(t, Options{Store: s})
	enqueue(t, q, "d1", "kept")
	q.Close()

	q = openQueues(t, Options{Store: s})
	if q.Pending("d1") != 1 {
		t.Fatalf("pending after reopen = %d", q.Pending("d1"))
	}
	if err := q.DeleteDevice(context.Background(), "d1"); err != nil {
		t.Fatal(err)
	}
	if n := queueCount(q); n != 0 {
		t.Fatalf("%d queues left after the delete", n)
	}
}

// Many devices sending, completing and being deleted at once: every queue
// goes once its device is gone, no message outlives its device, and a
// message sent to a live device is never lost to a queue being dropped.
func TestQueueChurnConcurrently(t *testing.T) {
	s := openStore(t, t.TempDir())
	var mu sync.Mutex
	deleted := map[string]bool{}
	tr := newFakeTransport()
	q := openQueues(t, Options{Transport: tr, Store: s, DeviceExists: func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return !deleted[id]
	}})
	tr.autoAck = true
	ctx := context.Background()

	const devices, rounds = 40, 5
	var wg sync.WaitGroup
	for i := range devices {
		id := fmt.Sprintf("d%d", i)
		tr.setOnline(id, i%2 == 0) // half complete everything at once, half keep it queued
		wg.Add(2)
		go func() { // the service side
			defer wg.Done()
			for range rounds {
				if _, err := q.Enqueue(ctx, id, text("m")); err != nil {
					mu.Lock()
					gone := deleted[id]
					mu.Unlock()
					if !gone {
						t.Errorf("enqueue to live %s: %v", id, err)
					}
					return
				}
			}
		}()
		go func() { // the registry, deleting the device meanwhile
			defer wg.Done()
			mu.Lock()
			deleted[id] = true
			mu.Unlock()
			if err := q.DeleteDevice(ctx, id); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if n := queueCount(q); n != 0 {
		t.Errorf("%d queues left in memory, want 0", n)
	}
	if left := keys(t, s, store.C2D); slices.ContainsFunc(left, func(k string) bool { return k != sequenceKey }) {
		t.Errorf("messages of deleted devices left in the store: %v", left)
	}
}

func enqueue(t *testing.T, q *Queues, deviceID string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := q.Enqueue(context.Background(), deviceID, text(b)); err != nil {
			t.Fatal(err)
		}
	}
}
