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
	// Python and Node subscribe to inputs/#; the C and C# SDKs to the module
	// root; Java's module client to messages/devicebound/#, which IoT Hub
	// grants though no cloud-to-device message goes to a module.
	return filter == base+"inputs/#" || filter == base+"#" || filter == base+"messages/devicebound/#"
}

// checkPublish parses a publish topic and checks that id may publish there:
// the twin and method topics, or its own telemetry topic with a well-formed
// property bag.
func checkPublish(id Identity, topic string) (deviceTopic, error) {
	p := parsePublish(id, topic)
	return p.t, p.err
}

// parsedPublish is a publish topic checked for an identity, with a
// telemetry topic's property bag decoded.
type parsedPublish struct {
	topic         string
	t             deviceTopic
	system, props map[string]string
	err           error
}

func parsePublish(id Identity, topic string) parsedPublish {
	p := parsedPublish{topic: topic}
	t, err := parseTopic(topic)
	if err != nil {
		p.err = err
		return p
	}
	if t.Kind != kindTelemetry {
		p.t = t
		return p
	}
	if t.DeviceID != id.DeviceID || t.ModuleID != id.ModuleID {
		p.err = fmt.Errorf("%w: %q", errForeignTopic, topic)
		return p
	}
	if p.system, p.props, err = parsePropertyBag(t.PropertyBag); err != nil {
		p.err = fmt.Errorf("telemetry property bag: %w", err)
		return p
	}
	p.t = t
	return p
}

// readPublish checks a publish as it is read (OnPacketRead), and keeps the
// result for the hooks mochi then calls for the same packet (the ACL,
// OnPublish, OnPublished), all on the connection's goroutine: the topic
// and its property bag are parsed once per packet. The property maps are
// the packet's own, never shared with another publish.
func (s *session) readPublish(topic string) parsedPublish {
	s.pub = parsePublish(s.id, topic)
	return s.pub
}

// publishOf is the check of the packet being processed, or, for a topic
// that is not the last one read, a fresh one.
func (s *session) publishOf(topic string) parsedPublish {
	if s.pub.topic == topic && topic != "" {
		return s.pub
	}
	return parsePublish(s.id, topic)
}
