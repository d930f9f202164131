package mqttbroker

import (
	"bytes"
	"context"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestKeepaliveCapped(t *testing.T) {
	b, err := New(newFakeHub(), Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	h := &hook{b: b}
	tests := []struct{ asked, want uint16 }{
		{0, maxKeepalive}, // none asked: IoT Hub still drops idle connections
		{60, 60},
		{1177, 1177},
		{1200, maxKeepalive},
		{65535, maxKeepalive},
	}
	for _, tt := range tests {
		cl := b.server.NewClient(nil, "test", "dev1", false)
		pk := packets.Packet{ProtocolVersion: 4, Connect: packets.ConnectParams{Keepalive: tt.asked}}
		cl.ParseConnect("test", pk)
		if err := h.OnConnect(cl, pk); err != nil {
			t.Fatalf("OnConnect: %v", err)
		}
		if cl.State.Keepalive != tt.want {
			t.Errorf("keepalive %d became %d, want %d", tt.asked, cl.State.Keepalive, tt.want)
		}
	}
}

func TestConnackCodesStayValidFor311(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	// mochi refuses an empty client id with clean session 0 using an
	// MQTT 5 code; 3.1.1 clients must get one of theirs.
	c := dialRaw(t, addr)
	if code := c.connect(4, "", deviceUsername("dev1"), sasToken(testHost, "dev1", key, hourAhead())); code != packets.Err3NotAuthorized.Code {
		t.Fatalf("CONNACK = %#x, want 5", code)
	}
	c.expectClosed()
}

// callbackHub disconnects the identity from inside Connected, as a hub
// reacting to a concurrent disable might: the broker must not deadlock.
type callbackHub struct {
	*fakeHub
	b *Broker
}

func (h *callbackHub) Connected(ctx context.Context, id Identity, modelID string) {
	h.fakeHub.Connected(ctx, id, modelID)
	h.b.Disconnect(id.DeviceID, id.ModuleID)
}

func TestHubMayCallBackIntoTheBroker(t *testing.T) {
	hub := &callbackHub{fakeHub: newFakeHub()}
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	hub.b = b
	c := dialRaw(t, addr)
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: "dev1", Keepalive: 60,
			UsernameFlag: true, Username: []byte(deviceUsername("dev1")),
			PasswordFlag: true, Password: []byte(sasToken(testHost, "dev1", key, hourAhead())),
		},
	})
	c.expectClosed()
	want := []hubEvent{{Kind: "connected", Key: "dev1"}, {Kind: "disconnected", Key: "dev1"}}
	testkit.EventuallyWithin(t, waitFor, "hub events", func() bool { return slices.Equal(hub.Events(), want) })
	if b.ConnectedCount() != 0 {
		t.Errorf("ConnectedCount = %d", b.ConnectedCount())
	}
}

func TestMochiLogsDemoted(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(demoteHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Info("info line")
	log.Warn("warn line")
	log.With("k", "v").WithGroup("g").Error("error line")
	out := buf.String()
	if strings.Contains(out, "info line") || strings.Contains(out, "warn line") {
		t.Errorf("info/warn not demoted below info: %s", out)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "error line") || !strings.Contains(out, "k=v") {
		t.Errorf("error line lost: %s", out)
	}
}
