package mqttbroker

import (
	"sync"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/devicelink"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
)

func TestClientsAndPacketLog(t *testing.T) {
	var mu sync.Mutex
	var events []PacketEvent
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBrokerWith(t, hub, Options{Logger: testLogger(), PacketLog: func(ev PacketEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)

	var clients []devicelink.ClientInfo
	testkit.EventuallyWithin(t, waitFor, "the client listed with its subscription", func() bool {
		clients = b.Clients()
		return len(clients) == 1 && len(clients[0].Subscriptions) == 1
	})
	if len(clients) != 1 || clients[0].DeviceID != "dev1" || clients[0].Subscriptions[0] != "$iothub/twin/res/#" || clients[0].ConnectedAt.IsZero() || clients[0].Listener == "" {
		t.Fatalf("clients = %+v", clients)
	}

	mu.Lock()
	defer mu.Unlock()
	var sawConnect, sawConnack bool
	for _, ev := range events {
		if ev.Type == "Connect" && ev.Direction == "in" && ev.ClientID == "dev1" && ev.Username != "" {
			sawConnect = true
		}
		if ev.Type == "Connack" && ev.Direction == "out" {
			sawConnack = true
		}
	}
	if !sawConnect || !sawConnack {
		t.Fatalf("packet log: %+v", events)
	}
}
