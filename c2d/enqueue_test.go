package c2d

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestEnqueueRefusesBadInput(t *testing.T) {
	clock := newFakeClock()
	big := strings.Repeat("x", MaxMessageSize)
	tests := []struct {
		name     string
		deviceID string
		msg      Message
		code     errcode.Code
	}{
		{"no device", "", text("hi"), errcode.ArgumentInvalid},
		{"unknown ack", "d1", Message{Ack: "sometimes"}, errcode.ArgumentInvalid},
		{"ack with spaces", "d1", Message{Ack: " full"}, errcode.ArgumentInvalid},
		{"body one byte over", "d1", Message{Body: []byte(big + "x")}, errcode.MessageTooLarge},
		{"properties push it over", "d1", Message{Body: []byte(big[:MaxMessageSize-4]), Properties: map[string]string{"ab": "cde"}}, errcode.MessageTooLarge},
		{"empty property name", "d1", Message{Properties: map[string]string{"": "v"}}, errcode.ArgumentInvalid},
		{"system property name", "d1", Message{Properties: map[string]string{"$.mid": "v"}}, errcode.ArgumentInvalid},
		{"encoded system property name", "d1", Message{Properties: map[string]string{"%24.to": "v"}}, errcode.ArgumentInvalid},
		{"hub property name", "d1", Message{Properties: map[string]string{"IoTHub-Ack": "full"}}, errcode.ArgumentInvalid},
		{"message id too long", "d1", Message{MessageID: strings.Repeat("m", 129)}, errcode.ArgumentInvalid},
		{"expiry now", "d1", Message{ExpiryTime: clock.Now()}, errcode.ArgumentInvalid},
		{"expiry in the past", "d1", Message{ExpiryTime: clock.Now().Add(-time.Hour)}, errcode.ArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			var pl pendingLog
			q := openQueues(t, Options{PendingChanged: pl.record, Store: s, Now: clock.Now})
			_, err := q.Enqueue(context.Background(), tt.deviceID, tt.msg)
			wantCode(t, err, tt.code)
			if n := q.Pending(tt.deviceID); n != 0 {
				t.Errorf("pending %d after a refused enqueue", n)
			}
			if got := pl.get(tt.deviceID); len(got) != 0 {
				t.Errorf("PendingChanged called: %v", got)
			}
			for _, k := range keys(t, s, store.C2D) {
				if k != sequenceKey {
					t.Errorf("refused message stored as %q", k)
				}
			}
		})
	}
}

func TestEnqueueAcceptsLimitsAndAckSpellings(t *testing.T) {
	big := strings.Repeat("x", MaxMessageSize-5)
	tests := []struct {
		name    string
		msg     Message
		wantAck string
	}{
		{"default ack", text("a"), AckNone},
		{"lower case", Message{Ack: "positive"}, AckPositive},
		{"capitalised", Message{Ack: "Full"}, AckFull},
		{"upper case", Message{Ack: "NEGATIVE"}, AckNegative},
		{"explicit none", Message{Ack: "none"}, AckNone},
		{"exactly 64 KB", Message{Body: []byte(big), Properties: map[string]string{"k": "1234"}}, AckNone},
		{"128-character id", Message{MessageID: strings.Repeat("m", 128)}, AckNone},
		{"empty body", Message{}, AckNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueues(t, Options{})
			got, err := q.Enqueue(context.Background(), "d1", tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ack != tt.wantAck {
				t.Errorf("ack %q, want %q", got.Ack, tt.wantAck)
			}
			if q.Pending("d1") != 1 {
				t.Errorf("pending %d", q.Pending("d1"))
			}
		})
	}
}

func TestEnqueueFillsInTheQueueFields(t *testing.T) {
	clock := newFakeClock()
	q := openQueues(t, Options{Now: clock.Now, DefaultTTL: 30 * time.Minute})
	props := map[string]string{"color": "red"}
	in := Message{Body: []byte("hello"), Properties: props, CorrelationID: "c1", DeliveryCount: 7, LockToken: "forged"}
	m1, err := q.Enqueue(context.Background(), "d1", in)
	if err != nil {
		t.Fatal(err)
	}
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !guid.MatchString(m1.MessageID) {
		t.Errorf("generated message id %q is not a GUID", m1.MessageID)
	}
	if m1.DeviceID != "d1" || m1.CorrelationID != "c1" || m1.DeliveryCount != 0 || m1.LockToken != "" {
		t.Errorf("queued message %+v", m1)
	}
	if !m1.EnqueuedTime.Equal(clock.Now()) || !m1.ExpiryTime.Equal(clock.Now().Add(30*time.Minute)) {
		t.Errorf("enqueued %v expiry %v", m1.EnqueuedTime, m1.ExpiryTime)
	}

	// The queue keeps its own copy.
	props["color"] = "blue"
	in.Body[0] = 'j'
	if got := q.Messages("d1")[0]; got.Properties["color"] != "red" || string(got.Body) != "hello" {
		t.Errorf("the caller's later changes reached the queue: %+v", got)
	}

	expiry := clock.Now().Add(5 * time.Minute)
	m2, err := q.Enqueue(context.Background(), "d1", Message{MessageID: "mine", ExpiryTime: expiry})
	if err != nil {
		t.Fatal(err)
	}
	if m2.MessageID != "mine" || !m2.ExpiryTime.Equal(expiry) {
		t.Errorf("given id or expiry not kept: %+v", m2)
	}
	if m2.SequenceNumber <= m1.SequenceNumber {
		t.Errorf("sequence numbers %d then %d", m1.SequenceNumber, m2.SequenceNumber)
	}
}

func TestQueueDepth(t *testing.T) {
	tests := []struct {
		name       string
		maxPending int
		want       int
	}{
		{"IoT Hub default", 0, 50},
		{"configured", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newFakeTransport("d1")
			q := openQueues(t, Options{Transport: tr, MaxPending: tt.maxPending})
			ctx := context.Background()
			for i := range tt.want {
				if _, err := q.Enqueue(ctx, "d1", text("m")); err != nil {
					t.Fatalf("message %d: %v", i+1, err)
				}
			}
			_, err := q.Enqueue(ctx, "d1", text("one too many"))
			wantCode(t, err, errcode.DeviceMaximumQueueDepthExceeded)
			if q.Pending("d1") != tt.want {
				t.Fatalf("pending %d, want %d", q.Pending("d1"), tt.want)
			}
			// Other devices have their own queues.
			if _, err := q.Enqueue(ctx, "d2", text("m")); err != nil {
				t.Fatalf("another device: %v", err)
			}
			// Delivered but not completed still counts; completing frees a place.
			tr.all()[0].ack()
			if _, err := q.Enqueue(ctx, "d1", text("fits again")); err != nil {
				t.Fatalf("after a completion: %v", err)
			}
		})
	}
}

func TestOptionsRefuseNegativeValues(t *testing.T) {
	tests := []Options{
		{MaxPending: -1},
		{DefaultTTL: -time.Second},
		{MaxDeliveryCount: -1},
		{LockTimeout: -time.Second},
		{FeedbackTTL: -time.Second},
	}
	for _, opts := range tests {
		opts.Store = store.OpenMemory()
		if q, err := Open(opts); err == nil {
			q.Close()
			t.Errorf("Open(%+v) accepted a negative value", opts)
		}
	}
}

func TestOpenRequiresItsDependencies(t *testing.T) {
	for name, opts := range map[string]Options{
		"no store":     {Transport: newFakeTransport()},
		"no transport": {Store: store.OpenMemory()},
	} {
		opts.Logger = testLogger()
		if q, err := Open(opts); err == nil {
			q.Close()
			t.Errorf("Open with %s succeeded", name)
		}
	}
}

func TestClosedQueuesRefuseWork(t *testing.T) {
	q, err := Open(Options{Store: store.OpenMemory(), Transport: newFakeTransport(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(context.Background(), "d1", text("before")); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = q.Enqueue(context.Background(), "d1", text("after"))
	wantCode(t, err, errcode.ServiceUnavailable)
	_, err = q.Purge(context.Background(), "d1")
	wantCode(t, err, errcode.ServiceUnavailable)
	if q.Pending("d1") != 1 {
		t.Errorf("pending %d", q.Pending("d1"))
	}
}

// A device deleted between a sender's existence check and its enqueue gets
// no message: the queue asks again under its lock.
func TestEnqueueRechecksTheDeviceUnderTheQueueLock(t *testing.T) {
	var exists atomic.Bool
	exists.Store(true)
	q, err := Open(Options{Store: store.OpenMemory(), Transport: newFakeTransport(), DeviceExists: func(string) bool { return exists.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "d1", Message{Body: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	exists.Store(false) // deleted
	if err := q.DeleteDevice(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	_, err = q.Enqueue(ctx, "d1", Message{Body: []byte("b")})
	if !errcode.Is(err, errcode.DeviceNotFound) {
		t.Fatalf("enqueue to a deleted device: %v", err)
	}
	if n := q.Pending("d1"); n != 0 {
		t.Fatalf("%d messages left for a deleted device", n)
	}
}
