package mqttbroker

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic   string
		want    deviceTopic
		wantErr error // nil: success
	}{
		{"$iothub/twin/GET/?$rid=1", deviceTopic{Kind: kindTwinGet, RID: "1"}, nil},
		{"$iothub/twin/GET/?$rid=8c4a1b6e-0f5e-4f7e-9d1c-1b2f3a4b5c6d", deviceTopic{Kind: kindTwinGet, RID: "8c4a1b6e-0f5e-4f7e-9d1c-1b2f3a4b5c6d"}, nil},
		{"$iothub/twin/GET/?foo=bar&$rid=a%20b&x", deviceTopic{Kind: kindTwinGet, RID: "a%20b"}, nil},
		{"$iothub/twin/PATCH/properties/reported/?$rid=42", deviceTopic{Kind: kindTwinPatchReported, RID: "42"}, nil},
		{"$iothub/twin/PATCH/properties/reported/?$rid=42&$version=3", deviceTopic{Kind: kindTwinPatchReported, RID: "42"}, nil},
		{"$iothub/methods/res/200/?$rid=7", deviceTopic{Kind: kindMethodResponse, RID: "7", Status: 200}, nil},
		{"$iothub/methods/res/-1/?$rid=ab", deviceTopic{Kind: kindMethodResponse, RID: "ab", Status: -1}, nil},
		{"devices/dev1/messages/events/", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1"}, nil},
		{"devices/dev1/messages/events", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1"}, nil},
		{"devices/dev1/messages/events/%24.mid=m1&k=v", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", PropertyBag: "%24.mid=m1&k=v"}, nil},
		{"devices/dev1/messages/events/$.ct=application/json", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", PropertyBag: "$.ct=application/json"}, nil},
		{"devices/dev1/modules/mod1/messages/events/$.on=out1", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", ModuleID: "mod1", PropertyBag: "$.on=out1"}, nil},
		{"devices/modules/messages/events/", deviceTopic{Kind: kindTelemetry, DeviceID: "modules"}, nil},
		// A trailing '/' ends the bag: Node's ModuleClient.sendOutputEvent writes one.
		{"devices/dev1/modules/mod1/messages/events/%24.on=temperature/", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", ModuleID: "mod1", PropertyBag: "%24.on=temperature"}, nil},
		{"devices/dev1/messages/events/%24.mid=m1&k=v/", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", PropertyBag: "%24.mid=m1&k=v"}, nil},
		{"devices/dev1/messages/events/$.ct=application/json/", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", PropertyBag: "$.ct=application/json"}, nil},
		{"devices/dev1/messages/events//", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1"}, nil},
		{"devices/dev1/messages/events/k=v//", deviceTopic{Kind: kindTelemetry, DeviceID: "dev1", PropertyBag: "k=v/"}, nil},

		{"$iothub/twin/GET/", deviceTopic{}, errUnknownTopic},
		{"$iothub/twin/GET/?", deviceTopic{}, errMissingRID},
		{"$iothub/twin/GET/?$rid=", deviceTopic{}, errMissingRID},
		{"$iothub/twin/GET/?rid=1", deviceTopic{}, errMissingRID},
		{"$iothub/twin/GET?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/twin/PATCH/properties/reported/", deviceTopic{}, errUnknownTopic},
		{"$iothub/twin/PATCH/properties/desired/?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/twin/res/200/?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/methods/res/abc/?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/methods/res/200?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/methods/res/99999999999/?$rid=1", deviceTopic{}, errUnknownTopic},
		{"$iothub/methods/res/200/?x=1", deviceTopic{}, errMissingRID},
		{"$iothub/methods/POST/reboot/?$rid=1", deviceTopic{}, errUnknownTopic},
		{"devices/dev1/messages/devicebound/", deviceTopic{}, errUnknownTopic},
		{"devices/dev1/messages/eventsX", deviceTopic{}, errUnknownTopic},
		{"devices//messages/events/", deviceTopic{}, errUnknownTopic},
		{"devices/dev1/modules//messages/events/", deviceTopic{}, errUnknownTopic},
		{"devices/dev1/modules/mod1/inputs/in1/", deviceTopic{}, errUnknownTopic},
		{"devices/dev1", deviceTopic{}, errUnknownTopic},
		{"devices/dev1/messages/events/#", deviceTopic{}, errUnknownTopic},
		{"$iothub/twin/GET/?$rid=+", deviceTopic{}, errUnknownTopic},
		{"$SYS/broker/version", deviceTopic{}, errUnknownTopic},
		{"anything", deviceTopic{}, errUnknownTopic},
		{"", deviceTopic{}, errUnknownTopic},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			got, err := parseTopic(tt.topic)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("parseTopic(%q) error: %v", tt.topic, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseTopic(%q) error = %v, want %v", tt.topic, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
			}
		})
	}
}

func TestResponseTopics(t *testing.T) {
	tests := []struct{ got, want string }{
		{twinResponseTopic(200, "abc-1"), "$iothub/twin/res/200/?$rid=abc-1"},
		{twinResponseTopic(400, "7"), "$iothub/twin/res/400/?$rid=7"},
		{twinPatchResponseTopic("7", 12), "$iothub/twin/res/204/?$rid=7&$version=12"},
		{desiredTopic(3), "$iothub/twin/PATCH/properties/desired/?$version=3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, seed := range []string{
		"$iothub/twin/GET/?$rid=1",
		"$iothub/twin/PATCH/properties/reported/?$rid=42&$version=3",
		"$iothub/methods/res/200/?$rid=7",
		"$iothub/methods/res/x/?$rid=7",
		"devices/dev1/messages/events/%24.mid=m1&k=v",
		"devices/dev1/modules/mod1/messages/events/$.on=o&a=%zz",
		"devices/dev1/messages/events",
		"devices/dev1/modules/mod1/messages/events/%24.on=temperature/",
		"devices/dev1/messages/events/$.ct=application/json/",
		"devices/dev1/messages/events/k=v//",
		"devices/dev1/messages/events//",
		"$iothub/twin/GET/?",
		"devices//x",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		got, err := parseTopic(topic)
		if err != nil {
			if got != (deviceTopic{}) {
				t.Fatalf("error %v with non-empty result %+v", err, got)
			}
			return
		}
		switch got.Kind {
		case kindTwinGet, kindTwinPatchReported, kindMethodResponse:
			// The rid is echoed into a response topic: it must be a
			// verbatim, non-empty piece of the request topic.
			if got.RID == "" || !strings.Contains(topic, "$rid="+got.RID) || strings.Contains(got.RID, "&") {
				t.Fatalf("rid %q from %q", got.RID, topic)
			}
		case kindTelemetry:
			if got.DeviceID == "" || strings.Contains(got.DeviceID, "/") || strings.Contains(got.ModuleID, "/") {
				t.Fatalf("ids %q/%q from %q", got.DeviceID, got.ModuleID, topic)
			}
			// The bag is the topic's tail, less the one '/' that may end it.
			if !strings.HasSuffix(strings.TrimSuffix(topic, "/"), got.PropertyBag) {
				t.Fatalf("bag %q not the tail of %q", got.PropertyBag, topic)
			}
			// So a closing '/' changes nothing.
			if !strings.HasSuffix(topic, "/") {
				if again, err := parseTopic(topic + "/"); err != nil || again != got {
					t.Fatalf("%q parses to %+v, with a closing '/' to %+v (%v)", topic, got, again, err)
				}
			}
			system, app, err := parsePropertyBag(got.PropertyBag)
			if err == nil && (system == nil || app == nil) {
				t.Fatalf("nil maps without error for %q", got.PropertyBag)
			}
		default:
			t.Fatalf("unknown kind %d for %q", got.Kind, topic)
		}
		if strings.ContainsAny(topic, "+#") {
			t.Fatalf("accepted wildcard topic %q", topic)
		}
	})
}
