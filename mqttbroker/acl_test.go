package mqttbroker

import (
	"errors"
	"testing"
)

func TestAllowedFilter(t *testing.T) {
	device := Identity{DeviceID: "dev1"}
	module := Identity{DeviceID: "dev1", ModuleID: "mod1"}
	tests := []struct {
		id     Identity
		filter string
		want   bool
	}{
		{device, "$iothub/twin/res/#", true},
		{device, "$iothub/twin/PATCH/properties/desired/#", true},
		{device, "$iothub/methods/POST/#", true},
		{device, "devices/dev1/messages/devicebound/#", true},
		{module, "$iothub/twin/res/#", true},
		{module, "devices/dev1/modules/mod1/inputs/#", true},
		{module, "devices/dev1/modules/mod1/#", true},
		{module, "devices/dev1/modules/mod1/messages/devicebound/#", true},
		{module, "devices/dev1/modules/mod2/messages/devicebound/#", false},
		{device, "devices/dev1/modules/mod1/messages/devicebound/#", false},

		{device, "devices/dev2/messages/devicebound/#", false},
		{device, "devices/dev1/modules/mod1/inputs/#", false},
		{module, "devices/dev1/messages/devicebound/#", false},
		{module, "devices/dev1/modules/mod2/inputs/#", false},
		{device, "devices/+/messages/devicebound/#", false},
		{device, "#", false},
		{device, "$iothub/#", false},
		{device, "$iothub/twin/#", false},
		{device, "$iothub/twin/res/+", false},
		{device, "$iothub/twin/res/200/?$rid=1", false},
		{device, "devices/dev1/messages/devicebound/", false},
		{device, "devices/dev1/messages/events/", false},
		{device, "$SYS/#", false},
		{device, "$share/g/$iothub/twin/res/#", false},
		{device, "", false},
	}
	for _, tt := range tests {
		if got := allowedFilter(tt.id, tt.filter); got != tt.want {
			t.Errorf("allowedFilter(%+v, %q) = %v, want %v", tt.id, tt.filter, got, tt.want)
		}
	}
}

func TestCheckPublish(t *testing.T) {
	device := Identity{DeviceID: "dev1"}
	module := Identity{DeviceID: "dev1", ModuleID: "mod1"}
	tests := []struct {
		id      Identity
		topic   string
		want    topicKind
		wantErr error // nil: allowed; errAny: any error
	}{
		{device, "$iothub/twin/GET/?$rid=1", kindTwinGet, nil},
		{module, "$iothub/twin/PATCH/properties/reported/?$rid=1", kindTwinPatchReported, nil},
		{device, "$iothub/methods/res/200/?$rid=1", kindMethodResponse, nil},
		{device, "devices/dev1/messages/events/a=b", kindTelemetry, nil},
		{module, "devices/dev1/modules/mod1/messages/events/", kindTelemetry, nil},

		{device, "devices/dev2/messages/events/", 0, errForeignTopic},
		{device, "devices/dev1/modules/mod1/messages/events/", 0, errForeignTopic},
		{module, "devices/dev1/messages/events/", 0, errForeignTopic},
		{module, "devices/dev1/modules/mod2/messages/events/", 0, errForeignTopic},
		{device, "devices/dev1/messages/events/a=%zz", 0, errAny},
		{device, "$iothub/twin/GET/", 0, errUnknownTopic},
		{device, "devices/dev1/messages/devicebound/", 0, errUnknownTopic},
		{device, "foo/bar", 0, errUnknownTopic},
	}
	for _, tt := range tests {
		got, err := checkPublish(tt.id, tt.topic)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("checkPublish(%+v, %q) error: %v", tt.id, tt.topic, err)
		case tt.wantErr == errAny && err == nil,
			tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("checkPublish(%+v, %q) error = %v, want %v", tt.id, tt.topic, err, tt.wantErr)
		case got.Kind != tt.want:
			t.Errorf("checkPublish(%+v, %q) kind = %v, want %v", tt.id, tt.topic, got.Kind, tt.want)
		}
	}
}
