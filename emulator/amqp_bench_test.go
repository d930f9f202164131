package emulator

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// BenchmarkTelemetryToEventHubs measures MQTT telemetry ingest with one
// Event Hubs consumer per partition reading it (azeventhubs over AMQPS),
// against the ingest rate with no consumer, in alternating rounds of the
// same run, and checks the consumers got every event. It reports "ratio"
// (target ≥ 0.8): the median over adjacent pairs of rounds of the ingest
// time alone over the ingest time with consumers. Ingest waits on the
// disk's commit latency, which drifts by tens of percent within a run on a
// shared machine; comparing each round with its neighbour and taking the
// median keeps that drift out of the ratio. "ratio-total" is the same
// ratio over the summed times of all rounds; msg/s-alone and
// msg/s-consumed are the two rates. Give it a count, e.g.
// -benchtime 20000x: at the default -benchtime b.N stays 1, and each round
// is one message per device.
func BenchmarkTelemetryToEventHubs(b *testing.B) {
	const devices, rounds = 8, 20 // ten pairs of alternating rounds
	e := start(b, b.TempDir(), false)
	svc := newService(b, e)
	var clients []paho.Client
	for i := range devices {
		id := fmt.Sprintf("bench-%d", i)
		d, err := dialDevice(b, e, id, svc.createDevice(id), true)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, d.client)
	}
	perRound := max(b.N/rounds, devices)
	ingest := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				topic := fmt.Sprintf("devices/bench-%d/messages/events/", i)
				for j := range perRound / devices {
					tk := c.Publish(topic, 1, false, fmt.Sprintf(`{"n":%d}`, j))
					if !tk.WaitTimeout(wait) || tk.Error() != nil {
						b.Errorf("publish: %v", tk.Error())
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}

	cs := e.EventHubsConnectionString("iothubowner", false)
	consumer, err := azeventhubs.NewConsumerClientFromConnectionString(cs, "", azeventhubs.DefaultConsumerGroup,
		&azeventhubs.ConsumerClientOptions{TLSConfig: e.tlsClientConfig(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	props, err := consumer.GetEventHubProperties(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	var received atomic.Int64
	consume := func() (stop func()) {
		cctx, ccancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, id := range props.PartitionIDs {
			pc, err := consumer.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Latest: ptrTo(true)}})
			if err != nil {
				b.Fatal(err)
			}
			// The link attaches on the first receive; from "latest" it
			// must be attached before this round's telemetry is sent.
			wctx, wcancel := context.WithTimeout(cctx, 100*time.Millisecond)
			evs, _ := pc.ReceiveEvents(wctx, 1, nil)
			wcancel()
			received.Add(int64(len(evs)))
			wg.Go(func() {
				defer pc.Close(context.Background())
				for cctx.Err() == nil {
					// ReceiveEvents returns only with the count or at its
					// deadline: a short one keeps the tally current.
					rctx, rcancel := context.WithTimeout(cctx, 100*time.Millisecond)
					evs, _ := pc.ReceiveEvents(rctx, 300, nil)
					rcancel()
					received.Add(int64(len(evs)))
				}
			})
		}
		return func() { ccancel(); wg.Wait() }
	}

	b.ResetTimer()
	var alone, with, last time.Duration
	var pairs []float64
	var want int64
	for r := range rounds {
		if r%2 == 0 {
			last = ingest()
			alone += last
			continue
		}
		before := received.Load()
		stop := consume()
		d := ingest()
		with += d
		pairs = append(pairs, last.Seconds()/d.Seconds())
		want += int64(perRound / devices * devices)
		// Let the consumers drain what this round sent before stopping them.
		for deadline := time.Now().Add(10 * wait); received.Load()-before < int64(perRound/devices*devices) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
	}
	b.StopTimer()
	if received.Load() < want {
		b.Fatalf("consumers received %d events, want %d", received.Load(), want)
	}
	b.ReportMetric(median(pairs), "ratio")
	b.ReportMetric(alone.Seconds()/with.Seconds(), "ratio-total")
	// The rates themselves, since a faster ingest alone lowers the ratio
	// when the consumers' work is the same.
	sent := float64(rounds / 2 * (perRound / devices * devices))
	b.ReportMetric(sent/alone.Seconds(), "msg/s-alone")
	b.ReportMetric(sent/with.Seconds(), "msg/s-consumed")
}

// BenchmarkC2DSendAMQPvsREST measures cloud-to-device sends over one AMQP
// link (as the service SDKs send) against sends over REST, one at a time
// each, in alternating rounds; each send returns once the message is
// durable. It reports amqp/rest throughput (target ≥ 1).
func BenchmarkC2DSendAMQPvsREST(b *testing.B) {
	const rounds, perDevice = 4, 40 // IoT Hub queues at most 50 per device
	e := start(b, b.TempDir(), false)
	svc := newService(b, e)
	perRound := max(b.N/rounds, 1)
	ndev := (perRound*rounds)/perDevice + 1
	for i := range ndev {
		svc.createDevice(fmt.Sprintf("c2d-%d", i))
	}
	next := 0
	device := func() string {
		id := fmt.Sprintf("c2d-%d", next/perDevice)
		next++
		return id
	}

	cs, _ := sas.ParseConnectionString(e.ConnectionString("service"))
	tok, _ := sas.NewToken(cs.HostName, cs.SharedAccessKey, cs.SharedAccessKeyName, time.Now().Add(time.Hour))
	ctx := context.Background()
	conn, err := goamqp.Dial(ctx, "amqps://"+e.Addr(AMQPS), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), TLSConfig: e.tlsClientConfig(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	session, err := conn.NewSession(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	putToken(b, session, cs.HostName, tok)
	snd, err := session.NewSender(ctx, "/messages/devicebound", nil)
	if err != nil {
		b.Fatal(err)
	}
	viaAMQP := func() time.Duration {
		start := time.Now()
		for range perRound {
			msg := &goamqp.Message{Properties: &goamqp.MessageProperties{To: ptrTo("/devices/" + device() + "/messages/devicebound")}, Data: [][]byte{[]byte("x")}}
			if err := snd.Send(ctx, msg, nil); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	client := svc.http
	viaREST := func() time.Duration {
		start := time.Now()
		for range perRound {
			req, _ := http.NewRequest("POST", "https://"+e.Addr(HTTPS)+"/emulator/devices/"+device()+"/messages/devicebound?api-version=2021-04-12", bytes.NewReader([]byte(`{"body":"x"}`)))
			req.Header.Set("Authorization", tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("REST send: %d", resp.StatusCode)
			}
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var amqpTime, restTime time.Duration
	for r := range rounds {
		if r%2 == 0 {
			restTime += viaREST()
		} else {
			amqpTime += viaAMQP()
		}
	}
	b.StopTimer()
	b.ReportMetric(restTime.Seconds()/amqpTime.Seconds(), "ratio")
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
