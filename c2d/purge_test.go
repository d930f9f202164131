package c2d

import (
	"context"
	"slices"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestPurgeAndDeleteDevice(t *testing.T) {
	tests := []struct {
		name        string
		purge       bool
		wantNotify  []int
		wantPurged  int
		enqueueMore bool
	}{
		{name: "purge", purge: true, wantNotify: []int{1, 2, 3, 0}, wantPurged: 3},
		{name: "delete device", purge: false, wantNotify: []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			var pl pendingLog
			tr := newFakeTransport()
			q := openQueues(t, Options{Transport: tr, PendingChanged: pl.record, Store: s})
			ctx := context.Background()
			for i, b := range []string{"locked", "queued", "queued too"} {
				if _, err := q.Enqueue(ctx, "d1", Message{Body: []byte(b), Ack: AckFull}); err != nil {
					t.Fatal(err)
				}
				if i == 0 { // the first one is held by the device
					tr.setOnline("d1", true)
					q.DeviceReady("d1")
					tr.setOnline("d1", false)
				}
			}
			if _, err := q.Enqueue(ctx, "d2", text("bystander")); err != nil {
				t.Fatal(err)
			}
			if tt.purge {
				n, err := q.Purge(ctx, "d1")
				if err != nil || n != tt.wantPurged {
					t.Fatalf("Purge = %d, %v", n, err)
				}
			} else if err := q.DeleteDevice(ctx, "d1"); err != nil {
				t.Fatal(err)
			}
			if q.Pending("d1") != 0 || q.Pending("d2") != 1 {
				t.Fatalf("pending d1 %d d2 %d", q.Pending("d1"), q.Pending("d2"))
			}
			if len(q.Feedback()) != 0 {
				t.Fatalf("purge wrote feedback %+v", q.Feedback())
			}
			if got := pl.get("d1"); !slices.Equal(got, tt.wantNotify) {
				t.Errorf("PendingChanged %v, want %v", got, tt.wantNotify)
			}
			for _, k := range keys(t, s, store.C2D) {
				if k != sequenceKey && k != messageKey("d2", 4) {
					t.Errorf("left in the store: %q", k)
				}
			}
			// The device's late ack of the purged message is refused.
			wantCode(t, q.Complete(ctx, "d1", tr.all()[0].msg.LockToken), errcode.DeviceMessageLockLost)
			// Nothing left: a second purge removes nothing.
			if n, err := q.Purge(ctx, "d1"); err != nil || n != 0 {
				t.Fatalf("second Purge = %d, %v", n, err)
			}
		})
	}
}

func TestPurgeUnknownDevice(t *testing.T) {
	q := openQueues(t, Options{})
	if n, err := q.Purge(context.Background(), "never-seen"); err != nil || n != 0 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
}
