package mqttbroker

import (
	"errors"
	"fmt"
)

var errForeignTopic = errors.New("topic belongs to another identity")

// allowedFilter reports whether id may subscribe to filter: only the literal
// documented filters, each of which ends in '#'. A topic name never contains
// '#', so this also refuses every delivery mochi's topic routing might attempt.
func allowedFilter(id Identity, filter string) bool {
	switch filter {
	case filterTwinResponses, filterDesired, filterMethods:
		return true
	}
	if id.ModuleID == "" {
		return filter == "devices/"+id.DeviceID+"/messages/devicebound/#"
	}
	base := "devices/" + id.DeviceID + "/modules/" + id.ModuleID + "/"
	// Python and Node subscribe to inputs/#; the C and C# SDKs to the module root.
	return filter == base+"inputs/#" || filter == base+"#"
}

// checkPublish parses a publish topic and checks that id may publish there:
// the twin and method topics, or its own telemetry topic with a well-formed
// property bag.
func checkPublish(id Identity, topic string) (deviceTopic, error) {
	t, err := parseTopic(topic)
	if err != nil {
		return deviceTopic{}, err
	}
	if t.Kind != kindTelemetry {
		return t, nil
	}
	if t.DeviceID != id.DeviceID || t.ModuleID != id.ModuleID {
		return deviceTopic{}, fmt.Errorf("%w: %q", errForeignTopic, topic)
	}
	if _, _, err := parsePropertyBag(t.PropertyBag); err != nil {
		return deviceTopic{}, fmt.Errorf("telemetry property bag: %w", err)
	}
	return t, nil
}
