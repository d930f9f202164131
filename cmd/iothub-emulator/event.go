package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// propertySet is what monitor-events -p asks to show.
type propertySet struct {
	sys, app, anno bool
}

func (p propertySet) any() bool { return p.sys || p.app || p.anno }

// add takes one -p value: sys, app, anno or all.
func (p *propertySet) add(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "sys":
		p.sys = true
	case "app":
		p.app = true
	case "anno":
		p.anno = true
	case "all":
		p.sys, p.app, p.anno = true, true, true
	default:
		return false
	}
	return true
}

// member is one key and value of an ordered JSON object.
type member struct {
	Key   string
	Value any
}

// ordered is a JSON object whose keys keep the order they were added in,
// so events read like Azure CLI's.
type ordered []member

func (o ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// amqpPropertyName maps IoT Hub's name of a message property to the name
// Azure CLI shows under properties.system (the AMQP message property).
// Every other system property is an annotation there.
func amqpPropertyName(name string) (string, bool) {
	switch name {
	case "message-id", "correlation-id", "user-id", "content-type", "content-encoding", "absolute-expiry-time":
		return strings.ReplaceAll(name, "-", "_"), true
	case "to":
		return "to", true
	}
	return "", false
}

// leadingAnnotations come first, in the order Azure CLI shows them.
func leadingAnnotations() []string {
	return []string{
		d2c.PropConnectionDeviceID,
		d2c.PropConnectionModuleID,
		"iothub-connection-auth-method",
		"iothub-connection-auth-generation-id",
		d2c.PropEnqueuedTime,
		d2c.PropMessageSource,
	}
}

// formatEvent renders a device-to-cloud message as one line of JSON shaped
// like an event of az iot hub monitor-events:
//
//	{"event":{"origin":D,"module":M,"interface":I,"component":C,
//	          "properties":{"system":{...},"application":{...}},"annotations":{...},"payload":...}}
//
// properties and annotations appear only when p asks for them.
func formatEvent(m d2c.Message, p propertySet) ([]byte, error) {
	ev := ordered{
		{"origin", m.DeviceID},
		{"module", m.ModuleID},
		{"interface", m.SystemProperties["dt-dataschema"]},
		{"component", m.SystemProperties["dt-subject"]},
	}
	system, annotations := splitSystemProperties(m)
	if p.any() {
		props := ordered{}
		if p.sys && len(system) > 0 {
			props = append(props, member{"system", system})
		}
		if p.app {
			app := m.Properties
			if app == nil {
				app = map[string]string{}
			}
			props = append(props, member{"application", app})
		}
		ev = append(ev, member{"properties", props})
	}
	if p.anno {
		ev = append(ev, member{"annotations", annotations})
	}
	ev = append(ev, member{"payload", payload(m.Body)})
	b, err := json.Marshal(ordered{{"event", ev}})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// splitSystemProperties sorts a message's system properties into AMQP
// message properties and annotations, adding the annotations an Event
// Hubs reader sees (sequence number, enqueued time). Times in annotations
// are milliseconds since the Unix epoch, as Azure CLI prints them.
func splitSystemProperties(m d2c.Message) (ordered, ordered) {
	system := ordered{}
	leading := leadingAnnotations()
	var rest []string
	for k, v := range m.SystemProperties {
		if name, ok := amqpPropertyName(k); ok {
			system = append(system, member{name, v})
		} else if !slices.Contains(leading, k) {
			rest = append(rest, k)
		}
	}
	slices.SortFunc(system, func(a, b member) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(rest)

	annotations := ordered{}
	for _, k := range append(leading, rest...) {
		v, ok := m.SystemProperties[k]
		if !ok {
			continue
		}
		var value any = v
		if k == d2c.PropEnqueuedTime {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				value = t.UnixMilli()
			}
		}
		annotations = append(annotations, member{k, value})
	}
	annotations = append(annotations,
		member{"x-opt-sequence-number", m.SequenceNumber},
		member{"x-opt-enqueued-time", m.EnqueuedTime.UnixMilli()},
	)
	return system, annotations
}

// payload is the body as a JSON value when it is JSON, else as text; a
// body that is not UTF-8 is shown in base64.
func payload(body []byte) any {
	if json.Valid(body) {
		var buf bytes.Buffer
		if json.Compact(&buf, body) == nil {
			return json.RawMessage(buf.Bytes())
		}
	}
	if utf8.Valid(body) {
		return string(body)
	}
	return base64.StdEncoding.EncodeToString(body)
}
