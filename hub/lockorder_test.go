package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// TestLockOrderUnderContention drives every path that crosses the hub key
// lock and a C2D queue lock at once, for one device: the queues report
// pending counts back into the hub (taking the key lock) while hub writers
// holding the key lock call into the queues (delete drops the queue). If
// the queues ever called back while holding a queue lock, or a hub writer
// took them in the other order, this deadlocks and the test fails on its
// deadline instead of hanging. See docs/architecture.md, "Lock order".
func TestLockOrderUnderContention(t *testing.T) {
	h := newHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const rounds = 60
	var wg sync.WaitGroup
	fail := make(chan error, 8)
	report := func(err error) {
		select {
		case fail <- err:
		default:
		}
	}
	// Tolerated answers: the device may be gone, or be re-created meanwhile.
	tolerated := func(err error) bool {
		return err == nil || errcode.Is(err, errcode.DeviceNotFound) || errcode.Is(err, errcode.DeviceAlreadyExists) ||
			errcode.Is(err, errcode.PreconditionFailed)
	}
	wg.Go(func() { // the registry: create, update, delete
		for i := range rounds {
			_, err := h.PutDevice(ctx, "d1", []byte(`{}`), "")
			if !tolerated(err) {
				report(fmt.Errorf("put %d: %w", i, err))
			}
			if _, err := h.PutDevice(ctx, "d1", []byte(`{"status":"enabled"}`), "*"); !tolerated(err) {
				report(fmt.Errorf("update %d: %w", i, err))
			}
			if err := h.DeleteDevice(ctx, "d1", "*"); !tolerated(err) {
				report(fmt.Errorf("delete %d: %w", i, err))
			}
		}
	})
	wg.Go(func() { // the twin: writes under the key lock, with notifications
		for i := range rounds {
			_, err := h.UpdateTwin(ctx, "d1", "", []byte(fmt.Sprintf(`{"properties":{"desired":{"n":%d}}}`, i)), "", false)
			if !tolerated(err) {
				report(fmt.Errorf("twin %d: %w", i, err))
			}
		}
	})
	for range 2 { // the queues: counts change and are reported to the hub
		wg.Go(func() {
			q := h.C2D()
			for i := range rounds {
				if _, err := q.Enqueue(ctx, "d1", c2d.Message{Body: []byte("x")}); err != nil &&
					!errcode.Is(err, errcode.DeviceNotFound) && !errcode.Is(err, errcode.DeviceMaximumQueueDepthExceeded) {
					report(fmt.Errorf("enqueue %d: %w", i, err))
				}
				if i%5 == 0 {
					if _, err := q.Purge(ctx, "d1"); err != nil {
						report(fmt.Errorf("purge %d: %w", i, err))
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("deadlock: hub and queue writers did not finish within 30 s")
	}
	close(fail)
	for err := range fail {
		t.Error(err)
	}
	// Whatever the interleaving, the count the hub mirrors is the queue's.
	bg := context.Background()
	if err := h.DeleteDevice(bg, "d1", "*"); err != nil && !errcode.Is(err, errcode.DeviceNotFound) {
		t.Fatal(err)
	}
	if _, err := h.PutDevice(bg, "d1", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.C2D().Enqueue(bg, "d1", c2d.Message{Body: []byte("last")}); err != nil {
		t.Fatal(err)
	}
	d, err := h.GetDevice(bg, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if want := h.C2D().Pending("d1"); want == 0 || d.CloudToDeviceMessageCount != want {
		t.Errorf("cloudToDeviceMessageCount %d, queue has %d", d.CloudToDeviceMessageCount, want)
	}
}
