package amqphub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// TestReceiveWithShortDeadlines: a consumer that gives up on each receive
// after a short while (azeventhubs then drains the link's credit) still
// gets every event appended meanwhile.
func TestReceiveWithShortDeadlines(t *testing.T) {
	f := newFixture(t)
	const total = 600
	c := f.consumer(azeventhubs.DefaultConsumerGroup)
	part := fmt.Sprint(d2c.PartitionOf("d1", d2c.DefaultPartitions))
	pc, err := c.NewPartitionClient(part, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(3 * wait)
		for got.Load() < total && time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			evs, _ := pc.ReceiveEvents(ctx, 300, nil)
			cancel()
			got.Add(int64(len(evs)))
		}
	}()
	for range total / 20 {
		f.send("d1", 20)
		time.Sleep(5 * time.Millisecond) // spread the appends over many receive calls
	}
	<-done
	if got.Load() != total {
		t.Fatalf("received %d of %d events", got.Load(), total)
	}
}
