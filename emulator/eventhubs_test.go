package emulator

import (
	"context"
	"slices"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

func TestHubAndEventHubNames(t *testing.T) {
	for _, tt := range []struct {
		hosts    []string
		override string
		hub, eh  string
	}{
		{nil, "", "iothub-emulator", "iothub-ehub-iothub-emulator"},
		{[]string{"localhost"}, "", "iothub-emulator", "iothub-ehub-iothub-emulator"},
		{[]string{"::1"}, "", "iothub-emulator", "iothub-ehub-iothub-emulator"},
		{[]string{"myhub.azure-devices.net", "other"}, "", "myhub", "iothub-ehub-myhub"},
		{[]string{"myhub"}, "telemetry", "myhub", "telemetry"},
	} {
		c := DefaultConfig()
		c.HostNames, c.EventHubName = tt.hosts, tt.override
		if c.hubName() != tt.hub || c.eventHubName() != tt.eh {
			t.Errorf("hosts %v override %q: hub %q event hub %q, want %q %q", tt.hosts, tt.override, c.hubName(), c.eventHubName(), tt.hub, tt.eh)
		}
	}
}

func TestEventHubsEndpointFollowsTheConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTTSPort, cfg.HTTPSPort, cfg.MQTTPort, cfg.HTTPPort = Off, Off, Off, 0
	cfg.AMQPSPort, cfg.AMQPPort = Off, Off
	cfg.InMemory, cfg.Partitions, cfg.ConsumerGroups = true, 6, []string{"ops"}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Telemetry().ConsumerGroups(); !slices.Equal(got, []string{"$Default", "ops"}) {
		t.Fatalf("consumer groups %v", got)
	}
	ep := e.EventHubs()
	addr, err := ep.ParseAddress("amqps://127.0.0.1/iothub-emulator/ConsumerGroups/OPS/Partitions/5")
	if err != nil || addr.Entity != "iothub-ehub-iothub-emulator" || addr.ConsumerGroup != "ops" || addr.Partition != 5 {
		t.Fatalf("ParseAddress: %+v %v", addr, err)
	}
	if _, err := ep.ParseAddress("iothub-ehub-iothub-emulator/ConsumerGroups/$Default/Partitions/6"); err == nil {
		t.Fatal("partition 6 of 6 was accepted")
	}

	// Telemetry the hub takes lands on the device's partition.
	m, err := e.Telemetry().Append(context.Background(), d2c.Message{DeviceID: "thermostat", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if m.Partition != d2c.PartitionOf("thermostat", 6) {
		t.Fatalf("message on partition %d", m.Partition)
	}
}
