package mqttbroker

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// A property bag is the query-string-like tail of a telemetry or C2D topic:
// "k1=v1&k2=v2", keys and values percent-encoded. Keys starting with "$."
// (sent as "%24." by most SDKs) are system properties.

const systemPrefix = "$."

// systemOrder is the order in which the hub writes known system properties;
// any others follow sorted, then the application properties sorted, so the
// same message always gives the same topic.
var systemOrder = []string{"mid", "cid", "uid", "to", "ct", "ce", "exp"}

var errEmptyPropertyKey = errors.New("empty property key")

// parsePropertyBag decodes a property bag. Keys and values are
// percent-decoded ('+' stays '+'); a key alone has an empty value. System
// properties are returned without their "$." prefix. A repeated key keeps its
// last value.
func parsePropertyBag(bag string) (system, app map[string]string, err error) {
	system, app = map[string]string{}, map[string]string{}
	for pair := range strings.SplitSeq(bag, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.PathUnescape(rawKey)
		if err != nil {
			return nil, nil, fmt.Errorf("property key %q: %w", rawKey, err)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			return nil, nil, fmt.Errorf("value of property %q: %w", key, err)
		}
		if name, isSystem := strings.CutPrefix(key, systemPrefix); isSystem {
			if name == "" {
				return nil, nil, fmt.Errorf("%w: system property %q", errEmptyPropertyKey, pair)
			}
			system[name] = value
			continue
		}
		if key == "" {
			return nil, nil, fmt.Errorf("%w in %q", errEmptyPropertyKey, pair)
		}
		app[key] = value
	}
	return system, app, nil
}

// encodePropertyBag is the inverse of parsePropertyBag: system properties
// (keys without "$.") are written as "%24.{key}". Every byte but the
// unreserved ones (letters, digits, "-._~") is percent-encoded, a space as
// "%20": SDKs split the topic on '/', the bag on '&' and '=', and decode
// without turning '+' into a space. An empty value is written "key=".
//
// Maps cannot hold a null, so the bare "key" form is never written; absent
// system properties are simply left out.
func encodePropertyBag(system, app map[string]string) (string, error) {
	var b strings.Builder
	add := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeBagComponent(key))
		b.WriteByte('=')
		b.WriteString(escapeBagComponent(value))
	}
	for _, name := range systemKeys(system) {
		if name == "" {
			return "", fmt.Errorf("%w: system property", errEmptyPropertyKey)
		}
		add(systemPrefix+name, system[name])
	}
	keys := slices.Sorted(maps.Keys(app))
	for _, key := range keys {
		switch {
		case key == "":
			return "", errEmptyPropertyKey
		case strings.HasPrefix(key, systemPrefix):
			return "", fmt.Errorf("application property %q: names starting with %q are system properties", key, systemPrefix)
		}
		add(key, app[key])
	}
	return b.String(), nil
}

// systemKeys lists the system property names in systemOrder, then the rest sorted.
func systemKeys(system map[string]string) []string {
	out := make([]string, 0, len(system))
	for _, name := range systemOrder {
		if _, ok := system[name]; ok {
			out = append(out, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(system)) {
		if !slices.Contains(systemOrder, name) {
			out = append(out, name)
		}
	}
	return out
}

func escapeBagComponent(s string) string {
	// QueryEscape leaves only unreserved bytes and writes a space as '+';
	// a literal '+' has become "%2B", so every '+' left is a space.
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
