package amqphub

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/eventhubs"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// consumer is an azeventhubs client on the fixture's plain AMQP port, as
// the Event Hubs SDKs reach a local emulator (UseDevelopmentEmulator=true).
func (f *fixture) consumer(group string) *azeventhubs.ConsumerClient {
	f.t.Helper()
	cs := fmt.Sprintf("Endpoint=sb://%s/;SharedAccessKeyName=iothubowner;SharedAccessKey=%s;EntityPath=%s;UseDevelopmentEmulator=true",
		f.addr, f.key("iothubowner"), f.eh.Name())
	c, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", group, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// send records telemetry from a device as the MQTT head does.
func (f *fixture) send(deviceID string, n int) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.hub.GetDevice(ctx, deviceID); err != nil {
		if _, err := f.hub.PutDevice(ctx, deviceID, []byte(`{}`), ""); err != nil {
			f.t.Fatal(err)
		}
	}
	for i := range n {
		err := f.hub.ReceiveTelemetry(ctx, deviceID, "", hub.Telemetry{
			SystemProperties: map[string]string{"mid": fmt.Sprintf("%s-%d", deviceID, i), "ct": "application/json"},
			Properties:       map[string]string{"i": fmt.Sprint(i)},
			Body:             []byte(fmt.Sprintf(`{"i":%d}`, i)),
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestEventHubsConsumer(t *testing.T) {
	f := newFixture(t)
	f.send("d1", 3)
	c := f.consumer(azeventhubs.DefaultConsumerGroup)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	props, err := c.GetEventHubProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if props.Name != f.eh.Name() || len(props.PartitionIDs) != d2c.DefaultPartitions {
		t.Fatalf("event hub properties %+v", props)
	}
	part := fmt.Sprint(d2c.PartitionOf("d1", d2c.DefaultPartitions))
	pp, err := c.GetPartitionProperties(ctx, part, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pp.IsEmpty || pp.LastEnqueuedSequenceNumber != 2 || pp.BeginningSequenceNumber != 0 {
		t.Fatalf("partition properties %+v", pp)
	}

	// From the start: the three events, in order, with IoT Hub's annotations.
	pc, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	events := receive(t, pc, 3)
	for i, ev := range events {
		if ev.SequenceNumber != int64(i) || string(ev.Body) != fmt.Sprintf(`{"i":%d}`, i) || ev.Properties["i"] != fmt.Sprint(i) {
			t.Errorf("event %d: seq %d body %s props %v", i, ev.SequenceNumber, ev.Body, ev.Properties)
		}
		if ev.SystemProperties["iothub-connection-device-id"] != "d1" || ev.MessageID == nil || *ev.MessageID != fmt.Sprintf("d1-%d", i) ||
			ev.ContentType == nil || *ev.ContentType != "application/json" || ev.EnqueuedTime == nil {
			t.Errorf("event %d: system %v message-id %v content-type %v", i, ev.SystemProperties, ev.MessageID, ev.ContentType)
		}
	}

	// From a sequence number (exclusive), and from latest.
	pc2, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{SequenceNumber: ptr(int64(0))}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc2.Close(ctx)
	if got := receive(t, pc2, 2); got[0].SequenceNumber != 1 || got[1].SequenceNumber != 2 {
		t.Fatalf("after sequence number 0: %d, %d", got[0].SequenceNumber, got[1].SequenceNumber)
	}
	pc3, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Latest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc3.Close(ctx)
	sent := make(chan struct{})
	go func() {
		// Sent once the receiver is attached (it attaches on the first
		// ReceiveEvents below, which blocks until the event arrives).
		defer close(sent)
		key := eventhubs.ReceiverKey{Entity: f.eh.Name(), ConsumerGroup: azeventhubs.DefaultConsumerGroup, Partition: d2c.PartitionOf("d1", d2c.DefaultPartitions)}
		for deadline := time.Now().Add(wait); f.srv.receivers.Count(key) < 3 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		f.send("d1", 1)
	}()
	defer func() { <-sent }()
	if got := receive(t, pc3, 1); got[0].SequenceNumber != 3 {
		t.Fatalf("from latest: sequence number %d, want 3", got[0].SequenceNumber)
	}
}

func receive(t *testing.T, pc *azeventhubs.PartitionClient, n int) []*azeventhubs.ReceivedEventData {
	t.Helper()
	var out []*azeventhubs.ReceivedEventData
	deadline := time.Now().Add(wait)
	for len(out) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
		evs, err := pc.ReceiveEvents(ctx, n-len(out), nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	if len(out) < n {
		t.Fatalf("received %d events, want %d", len(out), n)
	}
	return out
}

func TestEventHubsEpochAndUnknowns(t *testing.T) {
	f := newFixture(t)
	f.send("d1", 1)
	c := f.consumer(azeventhubs.DefaultConsumerGroup)
	part := fmt.Sprint(d2c.PartitionOf("d1", d2c.DefaultPartitions))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	low, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{OwnerLevel: ptr(int64(1)), StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer low.Close(ctx)
	receive(t, low, 1)
	high, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{OwnerLevel: ptr(int64(2)), StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer high.Close(ctx)
	receive(t, high, 1)
	// The lower owner lost the partition.
	rctx, rcancel := context.WithTimeout(ctx, wait)
	defer rcancel()
	_, err = low.ReceiveEvents(rctx, 1, nil)
	var ehErr *azeventhubs.Error
	if !errors.As(err, &ehErr) || ehErr.Code != azeventhubs.ErrorCodeOwnershipLost {
		t.Fatalf("lower epoch after a higher one attached: %v, want ownership lost", err)
	}

	// An unknown consumer group is not found.
	other := f.consumer("nosuchgroup")
	pc, err := other.NewPartitionClient(part, nil)
	if err == nil {
		defer pc.Close(ctx)
		_, err = pc.ReceiveEvents(rctx, 1, nil)
	}
	if err == nil {
		t.Fatal("receiving from an unknown consumer group succeeded")
	}
}
