package loadgen_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"github.com/iothub-emulator/iothub-emulator/iothubtest"
	"github.com/iothub-emulator/iothub-emulator/loadgen"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// startEmulator runs the project's test harness: a whole emulator in
// memory on free loopback ports.
func startEmulator(t *testing.T) *emulator.Emulator { return iothubtest.Start(t).Emulator() }

func fleet(t *testing.T, e *emulator.Emulator, prefix string, n int) (loadgen.Registry, []loadgen.Device) {
	t.Helper()
	cs, err := sas.ParseConnectionString(e.ConnectionString("iothubowner"))
	if err != nil {
		t.Fatal(err)
	}
	reg := loadgen.Registry{Client: &http.Client{Timeout: 10 * time.Second}, Endpoint: "http://" + e.Addr(emulator.HTTP), Conn: cs}
	devs, err := reg.Create(context.Background(), prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != n {
		t.Fatalf("created %d devices, want %d", len(devs), n)
	}
	return reg, devs
}

func tlsFor(e *emulator.Emulator) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestRunCountsEveryAcknowledgedMessage(t *testing.T) {
	e := startEmulator(t)
	_, devs := fleet(t, e, "lg", 5)
	var progress testkit.SyncBuffer
	s, err := loadgen.Run(context.Background(), loadgen.Config{
		Broker: e.Addr(emulator.MQTTS), HostName: e.HostName(), TLS: tlsFor(e), Devices: devs,
		TelemetryRate: 200, QoS: 1, PayloadSize: 256, MessagesPerDevice: 20,
		Progress: &progress, ProgressEvery: 50 * time.Millisecond, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Connected != 0 || s.Devices != 5 || s.TelemetrySent != 100 || s.TelemetryAcked != 100 || s.Errors != 0 {
		t.Fatalf("summary %+v", s)
	}
	if s.TelemetryP50 <= 0 || s.TelemetryP99 < s.TelemetryP50 {
		t.Fatalf("latencies p50 %v p99 %v", s.TelemetryP50, s.TelemetryP99)
	}
	// Every acknowledged message is in the hub's log, 256 bytes each.
	msgs, _ := e.Telemetry().Read(d2c.Filter{}, 1000)
	if len(msgs) != 100 {
		t.Fatalf("hub logged %d messages, want 100", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Body) != 256 || !bytes.HasPrefix(m.Body, []byte(`{"temperature":`)) || !strings.HasPrefix(m.DeviceID, "lg-") {
			t.Fatalf("message %s %q", m.DeviceID, m.Body)
		}
	}
	if !strings.Contains(s.String(), "acknowledged 100") {
		t.Fatalf("summary text:\n%s", s)
	}
}

func TestRunReportsPropertiesAndAnswersMethods(t *testing.T) {
	e := startEmulator(t)
	_, devs := fleet(t, e, "lgr", 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan loadgen.Summary, 1)
	go func() {
		s, err := loadgen.Run(ctx, loadgen.Config{
			Broker: e.Addr(emulator.MQTTS), HostName: e.HostName(), TLS: tlsFor(e), Devices: devs,
			ReportedRate: 20, AnswerMethods: true, Duration: 30 * time.Second, Timeout: 10 * time.Second,
		})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	// A method call reaches a simulated device once it has subscribed.
	testkit.EventuallyWithin(t, 20*time.Second, "a simulated device answers a method", func() bool {
		r, err := e.Hub().InvokeMethod(ctx, "lgr-1", "", []byte(`{"methodName":"ping","responseTimeoutInSeconds":5,"connectTimeoutInSeconds":1}`))
		return err == nil && r.Status == 200
	})
	// The reported patches land in the twin.
	testkit.EventuallyWithin(t, 20*time.Second, "reported patches in the twin", func() bool {
		tw, err := e.Hub().GetTwin(ctx, "lgr-2", "")
		if err != nil {
			return false
		}
		props, _ := tw["properties"].(map[string]any)
		reported, _ := props["reported"].(map[string]any)
		_, ok := reported["loadgen"]
		return ok
	})
	cancel()
	var s loadgen.Summary
	select {
	case s = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end when its context did")
	}
	if s.MethodsAnswered < 1 || s.ReportedOK < 1 || s.Errors != 0 || s.ReportedP50 <= 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	dev := []loadgen.Device{{ID: "d", Key: "a2V5"}}
	for name, cfg := range map[string]loadgen.Config{
		"no devices":        {Broker: "b:1", HostName: "h", Duration: time.Second},
		"no bound":          {Broker: "b:1", HostName: "h", Devices: dev, TelemetryRate: 1},
		"qos 2":             {Broker: "b:1", HostName: "h", Devices: dev, Duration: time.Second, QoS: 2},
		"negative rate":     {Broker: "b:1", HostName: "h", Devices: dev, Duration: time.Second, TelemetryRate: -1},
		"count, no rate":    {Broker: "b:1", HostName: "h", Devices: dev, MessagesPerDevice: 3},
		"no broker":         {HostName: "h", Devices: dev, Duration: time.Second},
		"reported, no time": {Broker: "b:1", HostName: "h", Devices: dev, MessagesPerDevice: 3, TelemetryRate: 1, ReportedRate: 1},
	} {
		if _, err := loadgen.Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRunCountsDevicesThatCannotConnect(t *testing.T) {
	e := startEmulator(t)
	s, err := loadgen.Run(context.Background(), loadgen.Config{
		Broker: e.Addr(emulator.MQTTS), HostName: e.HostName(), TLS: tlsFor(e),
		Devices: []loadgen.Device{{ID: "nobody", Key: "bm90LWEta2V5LW5vdC1hLWtleQ=="}}, TelemetryRate: 10, MessagesPerDevice: 1, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Errors != 1 || s.TelemetrySent != 0 || !strings.Contains(s.FirstError, "connect") {
		t.Fatalf("summary %+v", s)
	}
}
