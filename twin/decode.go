package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/iothub-emulator/iothub-emulator/jsontext"
)

// decodeObject parses a request body that must be exactly one JSON object.
// Numbers stay json.Number so that checkValue sees their full precision and
// can name an out-of-range literal instead of failing inside the decoder.
func decodeObject(what string, body []byte) (map[string]any, error) {
	if err := jsontext.Check(body); err != nil {
		return nil, invalid("%s is not valid JSON text: %v", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid("%s is empty; expected a JSON object", what)
		}
		return nil, invalid("%s is not valid JSON: %v", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("%s has data after the JSON object", what)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("%s must be a JSON object, not %s", what, jsonKind(v))
	}
	return m, nil
}

// jsonKind names a decoded JSON value's type for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// ServiceUpdate is what a REST PATCH/PUT /twins/{id} body carries that the
// service may change. Values are JSON-decoded types (map[string]any, []any,
// string, float64, bool, nil); a null member of a patch deletes.
type ServiceUpdate struct {
	Tags                map[string]any // nil means the body had no "tags"
	Desired             map[string]any // nil means the body had no "properties.desired"
	HasTags, HasDesired bool
	// DeviceID and ModuleID are the identity the body names, if it names
	// one; the caller checks them against the URL.
	DeviceID, ModuleID string
	// desiredOrder is the key order of the body's desired section, so the
	// notification a device gets lists keys as the service wrote them.
	desiredOrder *keyOrder
}

// twinFields are the top-level members of IoT Hub's Twin JSON. The SDKs
// send a whole Twin (some fill in what they got from a GET), so these are
// accepted and ignored; only tags and properties.desired are applied.
var twinFields = map[string]bool{
	"deviceId": true, "moduleId": true, "etag": true, "deviceEtag": true, "version": true,
	"status": true, "statusReason": true, "statusUpdateTime": true, "connectionState": true,
	"lastActivityTime": true, "cloudToDeviceMessageCount": true, "authenticationType": true,
	"x509Thumbprint": true, "capabilities": true, "deviceScope": true, "parentScopes": true,
	"modelId": true, "configurations": true, "tags": true, "properties": true,
	// Spellings of the same read-only fields that SDK models serialise
	// (the Java TwinState and the device identity share some).
	"statusUpdatedTime": true, "connectionStateUpdatedTime": true, "generationId": true,
}

// ParseServiceBody decodes a REST twin body (the full Twin JSON the SDKs
// send). It applies only "tags" and "properties.desired"; the other Twin
// fields (etag, version, status, connectionState, properties.reported, ...)
// are read-only and ignored, as are the "$metadata" and "$version" members
// a desired section copied from a GET carries. A section that is null
// counts as absent.
//
// It refuses, with ArgumentInvalid: invalid JSON or JSON text; a body that
// is not an object; a member that is not a Twin field; a tags, properties
// or desired that is not an object; a body with neither tags nor desired
// (nothing the service may write); and any key breaking IoT Hub's rules
// ('$', '.', space, control characters, length) or value breaking its value
// rules. Section sizes depend on the twin and are checked when the update is
// applied.
func ParseServiceBody(body []byte) (ServiceUpdate, error) {
	doc, err := decodeObject("twin body", body)
	if err != nil {
		return ServiceUpdate{}, err
	}
	var u ServiceUpdate
	for k, v := range doc {
		if !twinFields[k] {
			return ServiceUpdate{}, invalid("twin body: %s is not a member of a twin; only tags and properties.desired can be written", quoteShort(k))
		}
		if k == "deviceId" || k == "moduleId" {
			s, ok := v.(string)
			if v != nil && !ok {
				return ServiceUpdate{}, invalid("twin body: %s must be a string, not %s", k, jsonKind(v))
			}
			if k == "deviceId" {
				u.DeviceID = s
			} else {
				u.ModuleID = s
			}
		}
	}
	if raw := doc["tags"]; raw != nil {
		if u.Tags, err = sectionOf(secTags, raw); err != nil {
			return ServiceUpdate{}, err
		}
		u.HasTags = true
	}
	if raw := doc["properties"]; raw != nil {
		props, ok := raw.(map[string]any)
		if !ok {
			return ServiceUpdate{}, invalid("properties must be a JSON object, not %s", jsonKind(raw))
		}
		for k := range props {
			if k != "desired" && k != "reported" {
				return ServiceUpdate{}, invalid("properties: %s is not a member; a twin has properties.desired and properties.reported", quoteShort(k))
			}
		}
		if raw := props["desired"]; raw != nil {
			if u.Desired, err = sectionOf(secDesired, raw); err != nil {
				return ServiceUpdate{}, err
			}
			u.HasDesired = true
			u.desiredOrder = desiredKeyOrder(body)
		}
	}
	if !u.HasTags && !u.HasDesired {
		return ServiceUpdate{}, invalid("twin body has neither tags nor properties.desired, so it writes nothing: the service may write only those (properties.reported belongs to the device)")
	}
	return u, nil
}

// NewServiceUpdate is ParseServiceBody for sections already decoded (JSON
// values), as a bulk load holds them: tags and desired properties, either
// nil for absent, checked by the same rules and copied.
func NewServiceUpdate(tags, desired map[string]any) (ServiceUpdate, error) {
	var u ServiceUpdate
	var err error
	if tags != nil {
		if u.Tags, err = sectionOf(secTags, tags); err != nil {
			return ServiceUpdate{}, err
		}
		u.HasTags = true
	}
	if desired != nil {
		if u.Desired, err = sectionOf(secDesired, desired); err != nil {
			return ServiceUpdate{}, err
		}
		u.HasDesired = true
	}
	if !u.HasTags && !u.HasDesired {
		return ServiceUpdate{}, invalid("the update has neither tags nor desired properties, so it writes nothing")
	}
	return u, nil
}

// sectionOf validates one service-writable section of a body.
func sectionOf(section string, raw any) (map[string]any, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid("%s must be a JSON object, not %s", section, jsonKind(raw))
	}
	return checked(section, withoutReadOnly(section, m))
}
