package mqttbroker

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The filters a device may subscribe to that are the same for every identity.
const (
	filterTwinResponses = "$iothub/twin/res/#"
	filterDesired       = "$iothub/twin/PATCH/properties/desired/#"
	filterMethods       = "$iothub/methods/POST/#"
)

const (
	prefixTwinGet           = "$iothub/twin/GET/?"
	prefixTwinPatchReported = "$iothub/twin/PATCH/properties/reported/?"
	prefixMethodResponse    = "$iothub/methods/res/"
)

// topicKind is what a device publish asks for.
type topicKind int

const (
	kindTwinGet topicKind = iota + 1
	kindTwinPatchReported
	kindMethodResponse
	kindTelemetry
)

func (k topicKind) String() string {
	switch k {
	case kindTwinGet:
		return "twin GET"
	case kindTwinPatchReported:
		return "twin PATCH reported"
	case kindMethodResponse:
		return "method response"
	case kindTelemetry:
		return "telemetry"
	}
	return "unknown"
}

// deviceTopic is a parsed device-to-hub topic.
type deviceTopic struct {
	Kind        topicKind
	RID         string // twin and method topics: the request id, verbatim
	Status      int    // method response: the device's status code
	DeviceID    string // telemetry: the ids named in the topic
	ModuleID    string
	PropertyBag string // telemetry: the raw property bag after "messages/events/", without its closing '/'
}

var (
	errUnknownTopic = errors.New("not a device-to-hub topic")
	errMissingRID   = errors.New("request topic has no $rid")
)

// parseTopic parses the topic of a device publish. Any topic it does not
// recognise, or a request without a $rid, is an error: IoT Hub closes the
// connection for those.
func parseTopic(topic string) (deviceTopic, error) {
	if strings.ContainsAny(topic, "+#\x00") {
		return deviceTopic{}, fmt.Errorf("%w: wildcard or NUL in %q", errUnknownTopic, topic)
	}
	switch {
	case strings.HasPrefix(topic, prefixTwinGet):
		return twinRequest(kindTwinGet, topic[len(prefixTwinGet):])
	case strings.HasPrefix(topic, prefixTwinPatchReported):
		return twinRequest(kindTwinPatchReported, topic[len(prefixTwinPatchReported):])
	case strings.HasPrefix(topic, prefixMethodResponse):
		return parseMethodResponse(topic[len(prefixMethodResponse):])
	case strings.HasPrefix(topic, "devices/"):
		return parseTelemetryTopic(topic[len("devices/"):])
	}
	return deviceTopic{}, fmt.Errorf("%w: %q", errUnknownTopic, topic)
}

func twinRequest(kind topicKind, query string) (deviceTopic, error) {
	rid, err := requestID(query)
	if err != nil {
		return deviceTopic{}, err
	}
	return deviceTopic{Kind: kind, RID: rid}, nil
}

// requestID finds $rid in a topic query ("$rid=1&$version=2"). Pairs without
// '=' and other keys are ignored.
func requestID(query string) (string, error) {
	for pair := range strings.SplitSeq(query, "&") {
		if key, value, ok := strings.Cut(pair, "="); ok && key == "$rid" {
			if value == "" {
				return "", errMissingRID
			}
			return value, nil
		}
	}
	return "", errMissingRID
}

// parseMethodResponse parses "{status}/?$rid={rid}".
func parseMethodResponse(rest string) (deviceTopic, error) {
	statusText, query, ok := strings.Cut(rest, "/?")
	if !ok {
		return deviceTopic{}, fmt.Errorf("%w: method response without /?$rid=", errUnknownTopic)
	}
	status, err := strconv.Atoi(statusText)
	if err != nil || status < math.MinInt32 || status > math.MaxInt32 {
		return deviceTopic{}, fmt.Errorf("%w: method response status %q is not an integer", errUnknownTopic, statusText)
	}
	rid, err := requestID(query)
	if err != nil {
		return deviceTopic{}, err
	}
	return deviceTopic{Kind: kindMethodResponse, RID: rid, Status: status}, nil
}

// parseTelemetryTopic parses what follows "devices/":
// "{d}/messages/events/{bag}" or "{d}/modules/{m}/messages/events/{bag}".
// The bag is everything after "events/" up to one trailing '/', which ends
// it: the Node SDK writes ".../events/%24.on=temperature/" for module
// outputs. A '/' inside the bag stays (some clients send values like
// "$.ct=application/json" unencoded).
func parseTelemetryTopic(rest string) (deviceTopic, error) {
	t := deviceTopic{Kind: kindTelemetry}
	var ok bool
	t.DeviceID, rest, ok = strings.Cut(rest, "/")
	if !ok || t.DeviceID == "" {
		return deviceTopic{}, fmt.Errorf("%w: no device id", errUnknownTopic)
	}
	if after, isModule := strings.CutPrefix(rest, "modules/"); isModule {
		t.ModuleID, rest, ok = strings.Cut(after, "/")
		if !ok || t.ModuleID == "" {
			return deviceTopic{}, fmt.Errorf("%w: no module id", errUnknownTopic)
		}
	}
	switch {
	case rest == "messages/events":
	case strings.HasPrefix(rest, "messages/events/"):
		t.PropertyBag = strings.TrimSuffix(rest[len("messages/events/"):], "/")
	default:
		return deviceTopic{}, fmt.Errorf("%w: devices/%s", errUnknownTopic, rest)
	}
	return t, nil
}

// twinResponseTopic is where the answer to a twin request goes.
func twinResponseTopic(status int, rid string) string {
	return "$iothub/twin/res/" + strconv.Itoa(status) + "/?$rid=" + rid
}

// twinPatchResponseTopic answers a reported patch with the new reported version.
func twinPatchResponseTopic(rid string, version int64) string {
	return twinResponseTopic(204, rid) + "&$version=" + strconv.FormatInt(version, 10)
}

// desiredTopic carries a desired-properties notification.
func desiredTopic(version int64) string {
	return "$iothub/twin/PATCH/properties/desired/?$version=" + strconv.FormatInt(version, 10)
}
