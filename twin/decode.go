package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// decodeObject parses a request body that must be exactly one JSON object.
// Numbers stay json.Number so that checkValue sees their full precision and
// can name an out-of-range literal instead of failing inside the decoder.
func decodeObject(what string, body []byte) (map[string]any, error) {
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
}

// ParseServiceBody decodes a REST twin body (the full Twin JSON the SDKs
// send). It keeps only "tags" and "properties.desired" and ignores identity
// and read-only fields (deviceId, moduleId, etag, version, status,
// connectionState, x509Thumbprint, capabilities, properties.reported) as well
// as "$"-prefixed members at the top of tags or desired ($metadata, $version
// copied from a GET). A section that is null counts as absent.
//
// The kept sections are validated (keys, value types, numbers, string
// lengths, depth); a violation, invalid JSON, a body that is not an object or
// a tags/properties/desired that is not an object is an *errcode.Error with
// code ArgumentInvalid. Section sizes depend on the twin and are checked when
// the update is applied.
func ParseServiceBody(body []byte) (ServiceUpdate, error) {
	doc, err := decodeObject("twin body", body)
	if err != nil {
		return ServiceUpdate{}, err
	}
	var u ServiceUpdate
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
		if raw := props["desired"]; raw != nil {
			if u.Desired, err = sectionOf(secDesired, raw); err != nil {
				return ServiceUpdate{}, err
			}
			u.HasDesired = true
		}
	}
	return u, nil
}

// sectionOf validates one service-writable section of a body.
func sectionOf(section string, raw any) (map[string]any, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, invalid("%s must be a JSON object, not %s", section, jsonKind(raw))
	}
	return checked(section, withoutReadOnly(m))
}
