package mqttbroker

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// twinDoc is the MQTT twin GET body.
type twinDoc struct {
	Desired  map[string]any `json:"desired"`
	Reported map[string]any `json:"reported"`
}

func getTwin(t *testing.T, c *testClient, rid string) twinDoc {
	t.Helper()
	c.publish(t, "$iothub/twin/GET/?$rid="+rid, 0, " ")
	m := c.next(t, "$iothub/twin/res/")
	if want := "$iothub/twin/res/200/?$rid=" + rid; m.Topic() != want {
		t.Fatalf("GET response topic = %q, want %q (body %s)", m.Topic(), want, m.Payload())
	}
	var doc twinDoc
	if err := json.Unmarshal(m.Payload(), &doc); err != nil {
		t.Fatalf("GET body %s: %v", m.Payload(), err)
	}
	return doc
}

func TestTwinGetAndPatchReported(t *testing.T) {
	for _, clientID := range []string{"dev1", "dev1/mod1"} {
		for _, qos := range []byte{0, 1} { // Node uses QoS 0, Python QoS 1
			t.Run(clientID+"/qos"+string('0'+qos), func(t *testing.T) {
				hub := newFakeHub()
				key := hub.add(clientID)
				_, addr := startBroker(t, hub)
				c := mustDial(t, addr, deviceConfig(clientID, key))
				if granted := c.subscribe(t, "$iothub/twin/res/#", qos); granted != qos {
					t.Fatalf("granted QoS %d, want %d", granted, qos)
				}

				doc := getTwin(t, c, "a1")
				if doc.Desired["$version"] != 1.0 || doc.Reported["$version"] != 1.0 {
					t.Fatalf("initial twin = %+v", doc)
				}

				c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=a2", qos, `{"temp":21,"mode":"eco"}`)
				m := c.next(t, "$iothub/twin/res/")
				if want := "$iothub/twin/res/204/?$rid=a2&$version=2"; m.Topic() != want {
					t.Fatalf("PATCH response topic = %q, want %q", m.Topic(), want)
				}
				if len(m.Payload()) != 0 {
					t.Errorf("PATCH response body = %q, want empty", m.Payload())
				}

				c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=a3", qos, `{"mode":null}`)
				if m := c.next(t, "$iothub/twin/res/"); m.Topic() != "$iothub/twin/res/204/?$rid=a3&$version=3" {
					t.Fatalf("second PATCH response topic = %q", m.Topic())
				}

				doc = getTwin(t, c, "a4")
				if doc.Reported["temp"] != 21.0 || doc.Reported["$version"] != 3.0 {
					t.Fatalf("reported after patches = %v", doc.Reported)
				}
				if _, ok := doc.Reported["mode"]; ok {
					t.Errorf("null did not delete: %v", doc.Reported)
				}
			})
		}
	}
}

func TestTwinRequestIDEchoedVerbatim(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	_, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)
	for _, rid := range []string{"1", "8c4a1b6e-0f5e-4f7e-9d1c-1b2f3a4b5c6d", "a%20b", "x=y"} {
		getTwin(t, c, rid) // checks the response topic
	}
	// Extra parameters are ignored; $rid need not come first.
	c.publish(t, "$iothub/twin/GET/?foo=bar&$rid=77", 1, "")
	if m := c.next(t, "$iothub/twin/res/"); m.Topic() != "$iothub/twin/res/200/?$rid=77" {
		t.Fatalf("response topic = %q", m.Topic())
	}
}

type mqttErrorBody struct {
	ErrorCode    int    `json:"errorCode"`
	TrackingID   string `json:"trackingId"`
	Message      string `json:"message"`
	TimestampUTC string `json:"timestampUtc"`
}

// failingHub fails twin reads with an error that is not an *errcode.Error.
type failingHub struct{ *fakeHub }

func (failingHub) GetTwin(context.Context, Identity) ([]byte, error) {
	return nil, errors.New("disk on fire")
}

func TestTwinErrorResponses(t *testing.T) {
	fake := newFakeHub()
	key := fake.add("dev1")
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	_, addr := startBrokerWith(t, failingHub{fake}, Options{Logger: testLogger(), Now: func() time.Time { return now }})
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/res/#", 1)

	tests := []struct {
		name, topic, payload string
		wantTopic            string
		wantCode             int
	}{
		{"invalid patch", "$iothub/twin/PATCH/properties/reported/?$rid=e1", "not json", "$iothub/twin/res/400/?$rid=e1", 400004},
		{"patch not an object", "$iothub/twin/PATCH/properties/reported/?$rid=e2", "[1]", "$iothub/twin/res/400/?$rid=e2", 400004},
		{"internal error", "$iothub/twin/GET/?$rid=e3", " ", "$iothub/twin/res/500/?$rid=e3", 500001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.publish(t, tt.topic, 1, tt.payload)
			m := c.next(t, "$iothub/twin/res/")
			if m.Topic() != tt.wantTopic {
				t.Fatalf("topic = %q, want %q", m.Topic(), tt.wantTopic)
			}
			var body mqttErrorBody
			if err := json.Unmarshal(m.Payload(), &body); err != nil {
				t.Fatalf("body %s: %v", m.Payload(), err)
			}
			if body.ErrorCode != tt.wantCode || body.Message == "" || body.TrackingID == "" ||
				body.TimestampUTC != "2024-05-06T07:08:09.0000000Z" {
				t.Errorf("body = %+v", body)
			}
			if body.Message == "disk on fire" {
				t.Error("internal error text leaked to the device")
			}
		})
	}
	c.stillUp(t)
}

func TestTwinResponsesNeedTheSubscription(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	c := mustDial(t, addr, deviceConfig("dev1", key))
	c.subscribe(t, "$iothub/twin/PATCH/properties/desired/#", 1)

	c.publish(t, "$iothub/twin/GET/?$rid=1", 1, " ")
	c.publish(t, "$iothub/twin/PATCH/properties/reported/?$rid=2", 1, `{"applied":true}`)
	c.quietByMethod(t, b) // no answers, and the connection is still served

	// The patch was applied all the same.
	c.subscribe(t, "$iothub/twin/res/#", 1)
	if doc := getTwin(t, c, "3"); doc.Reported["applied"] != true || doc.Reported["$version"] != 2.0 {
		t.Fatalf("reported = %v", doc.Reported)
	}
}

func TestTwinRequestWithoutRIDClosesConnection(t *testing.T) {
	hub := newFakeHub()
	key := hub.add("dev1")
	b, addr := startBroker(t, hub)
	for _, topic := range []string{
		"$iothub/twin/GET/",
		"$iothub/twin/GET/?",
		"$iothub/twin/GET/?$rid=",
		"$iothub/twin/PATCH/properties/reported/?version=1",
	} {
		t.Run(topic, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.connectDevice("dev1", key)
			c.subscribe(1, "$iothub/twin/res/#")
			c.mustRead(packets.Suback)
			c.publish(topic, 0, 0, " ")
			c.expectClosed()
			testkit.EventuallyWithin(t, waitFor, "disconnect noticed", func() bool { return !b.IsConnected("dev1", "") })
		})
	}
}
