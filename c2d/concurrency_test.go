package c2d

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

func TestConcurrentEnqueuesRespectTheQueueDepth(t *testing.T) {
	s := openStore(t, t.TempDir())
	q := openQueues(t, Options{Store: s})
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for range 80 {
		wg.Go(func() {
			_, err := q.Enqueue(context.Background(), "d1", text("x"))
			switch {
			case err == nil:
				ok.Add(1)
			case errcode.Is(err, errcode.DeviceMaximumQueueDepthExceeded):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || full.Load() != 30 || q.Pending("d1") != 50 {
		t.Fatalf("accepted %d, refused %d, pending %d", ok.Load(), full.Load(), q.Pending("d1"))
	}
	seen := map[int64]bool{}
	for _, m := range q.Messages("d1") {
		if seen[m.SequenceNumber] {
			t.Fatalf("sequence number %d used twice", m.SequenceNumber)
		}
		seen[m.SequenceNumber] = true
	}
}

// ackingTransport acknowledges every delivery from another goroutine,
// sometimes twice, like a device whose PUBACKs race the hub.
type ackingTransport struct {
	wg         sync.WaitGroup
	deliveries atomic.Int64
	mu         sync.Mutex
	perDevice  map[string][]string
}

func (a *ackingTransport) Deliver(deviceID string, m Message, ack func()) error {
	a.deliveries.Add(1)
	a.mu.Lock()
	a.perDevice[deviceID] = append(a.perDevice[deviceID], string(m.Body))
	a.mu.Unlock()
	a.wg.Go(func() {
		ack()
		ack()
	})
	return nil
}

func TestConcurrentTraffic(t *testing.T) {
	s := openStore(t, t.TempDir())
	var pl pendingLog
	tr := &ackingTransport{perDevice: map[string][]string{}}
	q := openQueues(t, Options{Transport: tr, PendingChanged: pl.record, Store: s})
	const devices, perDevice = 8, 40
	ctx := context.Background()

	var wg sync.WaitGroup
	for d := range devices {
		id := fmt.Sprintf("dev-%d", d)
		wg.Go(func() {
			for i := range perDevice {
				if _, err := q.Enqueue(ctx, id, Message{Body: []byte(fmt.Sprint(i)), Ack: AckPositive}); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					q.DeviceReady(id)
				}
			}
		})
		// Readers and housekeeping alongside the writers.
		wg.Go(func() {
			for range perDevice {
				q.Pending(id)
				q.Messages(id)
				q.Feedback()
				q.sweep(ctx)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if b, ok := q.ReceiveFeedback(); ok {
				if err := q.AbandonFeedback(b.LockToken); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	tr.wg.Wait()

	deadline := time.Now().Add(5 * time.Second)
	for d := range devices {
		id := fmt.Sprintf("dev-%d", d)
		for q.Pending(id) != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := q.Pending(id); n != 0 {
			t.Fatalf("%s: %d messages never completed", id, n)
		}
		// Racing changes may be reported together, but the last report is
		// the final count.
		calls := pl.get(id)
		if len(calls) == 0 || len(calls) > 2*perDevice || calls[len(calls)-1] != 0 {
			t.Errorf("%s: %d pending reports, ending in %v", id, len(calls), calls[max(len(calls)-1, 0):])
		}
		tr.mu.Lock()
		got := tr.perDevice[id]
		tr.mu.Unlock()
		for i, b := range got {
			if b != fmt.Sprint(i) {
				t.Fatalf("%s: delivery %d was message %s: out of order", id, i, b)
			}
		}
	}
	if n := tr.deliveries.Load(); n != devices*perDevice {
		t.Errorf("%d deliveries, want %d (each message exactly once)", n, devices*perDevice)
	}
	if n := len(q.Feedback()); n != devices*perDevice {
		t.Errorf("%d feedback records, want %d", n, devices*perDevice)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestPendingChangedMayCallBack(t *testing.T) {
	ctx := context.Background()
	var reports []int
	var q *Queues // the report below calls back into the queues it watches
	q = openQueues(t, Options{PendingChanged: func(id string, n int) {
		reports = append(reports, n)
		if n == 3 {
			// Purging from inside the report must not deadlock.
			if _, err := q.Purge(ctx, id); err != nil {
				t.Error(err)
			}
		}
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			if _, err := q.Enqueue(ctx, "d1", text("x")); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: a report that calls back never returned")
	}
	if want := []int{1, 2, 3, 0}; !slices.Equal(reports, want) || q.Pending("d1") != 0 {
		t.Fatalf("reports %v (want %v), pending %d", reports, want, q.Pending("d1"))
	}
}
