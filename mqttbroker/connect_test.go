package mqttbroker

import (
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"slices"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestConnectAccepted(t *testing.T) {
	hub := newFakeHub()
	devKey := hub.add("dev1")
	modKey := hub.add("dev1/mod1")
	_, addr := startBroker(t, hub)

	tests := []struct {
		name      string
		clientID  string
		key       []byte
		username  string
		wantModel string
	}{
		{"device", "dev1", devKey, testHost + "/dev1/?api-version=2021-04-12&DeviceClientType=x", ""},
		{"module", "dev1/mod1", modKey, testHost + "/dev1/mod1/?api-version=2021-04-12", ""},
		{"legacy username", "dev1", devKey, testHost + "/dev1/api-version=2016-11-14", ""},
		{"no query", "dev1", devKey, testHost + "/dev1", ""},
		{"model id", "dev1", devKey, testHost + "/dev1/?api-version=2020-09-30&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1", "dtmi:com:example:Thermostat;1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := deviceConfig(tt.clientID, tt.key)
			cfg.username = tt.username
			c := mustDial(t, addr, cfg)
			want := hubEvent{Kind: "connected", Key: tt.clientID, ModelID: tt.wantModel}
			testkit.EventuallyWithin(t, waitFor, "hub told connected", func() bool {
				ev := hub.Events()
				return len(ev) > 0 && ev[len(ev)-1] == want
			})
			c.Disconnect(0)
			testkit.EventuallyWithin(t, waitFor, "hub told disconnected", func() bool {
				ev := hub.Events()
				return ev[len(ev)-1] == hubEvent{Kind: "disconnected", Key: tt.clientID}
			})
		})
	}
}

func TestConnectRefused(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	otherKey := hub.add("dev2")
	hub.add("off")
	hub.update("off", func(id *fakeIdentity) { id.disabled = true })
	modKey := hub.add("dev1/mod1")
	b, addr := startBroker(t, hub)
	hour := time.Now().Add(time.Hour)

	tests := []struct {
		name string
		cfg  clientConfig
	}{
		{"wrong key", clientConfig{clientID: "dev1", username: deviceUsername("dev1"), password: sasToken(testHost, "dev1", otherKey, hour)}},
		{"expired token", clientConfig{clientID: "dev1", username: deviceUsername("dev1"), password: sasToken(testHost, "dev1", key, time.Now().Add(-time.Minute))}},
		{"token for another device", clientConfig{clientID: "dev1", username: deviceUsername("dev1"), password: sasToken(testHost, "dev2", key, hour)}},
		{"token for the device used by its module", clientConfig{clientID: "dev1/mod1", username: deviceUsername("dev1/mod1"), password: sasToken(testHost, "dev1", modKey, hour)}},
		{"not a token", clientConfig{clientID: "dev1", username: deviceUsername("dev1"), password: "secret"}},
		{"unknown device", clientConfig{clientID: "ghost", username: deviceUsername("ghost"), password: sasToken(testHost, "ghost", key, hour)}},
		{"disabled device", clientConfig{clientID: "off", username: deviceUsername("off"), password: sasToken(testHost, "off", key, hour)}},
		{"username names another device", clientConfig{clientID: "dev1", username: deviceUsername("dev2"), password: sasToken(testHost, "dev1", key, hour)}},
		{"username names a module", clientConfig{clientID: "dev1", username: deviceUsername("dev1/mod1"), password: sasToken(testHost, "dev1", key, hour)}},
		{"username without host", clientConfig{clientID: "dev1", username: "dev1/?api-version=1", password: sasToken(testHost, "dev1", key, hour)}},
		{"bad escape in username", clientConfig{clientID: "dev1", username: testHost + "/dev1/?api-version=%zz", password: sasToken(testHost, "dev1", key, hour)}},
		{"client id with two slashes", clientConfig{clientID: "dev1/mod1/x", username: deviceUsername("dev1/mod1/x"), password: sasToken(testHost, "dev1/mod1", modKey, hour)}},
		{"empty client id", clientConfig{clientID: "", clean: true, username: testHost + "//?api-version=1", password: sasToken(testHost, "dev1", key, hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.protocol = 4
			_, tok := dial(t, addr, tt.cfg)
			if tok.ReturnCode() != packets.Err3NotAuthorized.Code {
				t.Fatalf("CONNACK return code = %d, want 5 (error %v)", tok.ReturnCode(), tok.Error())
			}
		})
	}

	t.Run("no password", func(t *testing.T) {
		c := dialRaw(t, addr)
		if code := c.connect(4, "dev1", deviceUsername("dev1"), ""); code != 5 {
			t.Fatalf("CONNACK return code = %d, want 5", code)
		}
		c.expectClosed()
	})
	t.Run("MQTT 3.1", func(t *testing.T) {
		c := dialRaw(t, addr)
		if code := c.connect(3, "dev1", deviceUsername("dev1"), sasToken(testHost, "dev1", key, hour)); code != packets.Err3UnsupportedProtocolVersion.Code {
			t.Fatalf("CONNACK return code = %d, want 1", code)
		}
		c.expectClosed()
	})
	t.Run("MQTT 5", func(t *testing.T) {
		c := dialRaw(t, addr)
		if code := c.connect(5, "dev1", deviceUsername("dev1"), sasToken(testHost, "dev1", key, hour)); code != packets.ErrUnsupportedProtocolVersion.Code {
			t.Fatalf("CONNACK reason code = %#x, want %#x", code, packets.ErrUnsupportedProtocolVersion.Code)
		}
		c.expectClosed()
	})

	if ev := hub.Events(); len(ev) != 0 {
		t.Errorf("hub events after refused connections: %v", ev)
	}
	if n := b.ConnectedCount(); n != 0 || b.IsConnected("dev1", "") {
		t.Errorf("ConnectedCount = %d, IsConnected(dev1) = %v after refusals", n, b.IsConnected("dev1", ""))
	}
}

func TestConnectWill(t *testing.T) {
	hub := newReceivingHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	token := sasToken(testHost, "dev1", key, time.Now().Add(time.Hour))

	connectWithWill := func(t *testing.T, topic string) (*rawClient, byte) {
		c := dialRaw(t, addr)
		c.send(packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Connect},
			ProtocolVersion: 4,
			Connect: packets.ConnectParams{
				ProtocolName: []byte("MQTT"), ClientIdentifier: "dev1", Keepalive: 60,
				UsernameFlag: true, Username: []byte(deviceUsername("dev1")),
				PasswordFlag: true, Password: []byte(token),
				WillFlag: true, WillTopic: topic, WillPayload: []byte("gone"), WillRetain: true,
			},
		})
		return c, c.mustRead(packets.Connack).ReasonCode
	}

	t.Run("another device's topic", func(t *testing.T) {
		c, code := connectWithWill(t, "devices/dev2/messages/events/")
		if code != 5 {
			t.Fatalf("CONNACK = %d, want 5", code)
		}
		c.expectClosed()
	})
	t.Run("own telemetry topic, sent as telemetry when the connection drops", func(t *testing.T) {
		c, code := connectWithWill(t, "devices/dev1/messages/events/k=v")
		if code != 0 {
			t.Fatalf("CONNACK = %d, want 0", code)
		}
		_ = c.conn.Close() // lost without DISCONNECT
		select {
		case got := <-hub.telemetry:
			if !got.Msg.Will || string(got.Msg.Body) != "gone" || got.Msg.Properties["k"] != "v" || !got.Msg.Retain {
				t.Fatalf("will telemetry = %+v", got.Msg)
			}
		case <-time.After(waitFor):
			t.Fatal("will not delivered as telemetry")
		}
	})
}

func TestHubSeesConnectOrder(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)

	c := mustDial(t, addr, deviceConfig("dev1", key))
	if !b.IsConnected("dev1", "") || b.ConnectedCount() != 1 {
		t.Fatalf("IsConnected = %v, ConnectedCount = %d after CONNACK", b.IsConnected("dev1", ""), b.ConnectedCount())
	}
	c.Disconnect(0)
	testkit.EventuallyWithin(t, waitFor, "disconnect noticed", func() bool { return !b.IsConnected("dev1", "") })
	want := []hubEvent{{Kind: "connected", Key: "dev1"}, {Kind: "disconnected", Key: "dev1"}}
	testkit.EventuallyWithin(t, waitFor, "hub events", func() bool { return slices.Equal(hub.Events(), want) })
	if n := b.ConnectedCount(); n != 0 {
		t.Errorf("ConnectedCount = %d, want 0", n)
	}
}
