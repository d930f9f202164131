// Package digitaltwin is IoT Plug and Play's view of a device twin: the
// digital twin the service API's /digitaltwins routes read, and the JSON
// Patch those routes write, turned into a desired-properties patch.
//
// A digital twin is derived from the device twin, following the Plug and
// Play conventions: a top-level desired or reported property whose value
// is an object holding "__t": "c" is a component; a reported value of the
// form {"value": v, "ac": code, "av": version, "ad": description} is a
// writable property's acknowledgement. The package knows nothing of HTTP
// or storage: it maps JSON documents to JSON documents.
package digitaltwin

import (
	"sort"
	"strings"
)

// componentMarker is the key and value that mark an object as a component.
const componentMarker, componentValue = "__t", "c"

// FromTwin renders a twin's service view (as GET /twins returns it) as the
// digital twin: $dtId, $metadata with $model and each root property's
// metadata, the properties' values, and each component with a $metadata
// of its own. It never modifies view.
func FromTwin(view map[string]any) map[string]any {
	props, _ := view["properties"].(map[string]any)
	desired, _ := props["desired"].(map[string]any)
	reported, _ := props["reported"].(map[string]any)
	desiredVersion := desired["$version"]
	dMeta, _ := desired["$metadata"].(map[string]any)
	rMeta, _ := reported["$metadata"].(map[string]any)

	out := map[string]any{"$dtId": view["deviceId"]}
	meta := map[string]any{}
	if m, _ := view["modelId"].(string); m != "" {
		meta["$model"] = m
	}
	for _, k := range keys(desired, reported) {
		if IsComponent(desired[k]) || IsComponent(reported[k]) {
			dc, _ := desired[k].(map[string]any)
			rc, _ := reported[k].(map[string]any)
			dcMeta, _ := dMeta[k].(map[string]any)
			rcMeta, _ := rMeta[k].(map[string]any)
			comp := map[string]any{}
			compMeta := map[string]any{}
			for _, p := range keys(dc, rc) {
				property(comp, compMeta, p, dc, rc, dcMeta, rcMeta, desiredVersion)
			}
			comp["$metadata"] = compMeta
			out[k] = comp
			continue
		}
		property(out, meta, k, desired, reported, dMeta, rMeta, desiredVersion)
	}
	out["$metadata"] = meta
	return out
}

// property renders one property k into out (its value, when reported) and
// meta (its metadata: desired value and version, acknowledgement, last
// update time).
func property(out, meta map[string]any, k string, desired, reported, dMeta, rMeta map[string]any, desiredVersion any) {
	pm := map[string]any{}
	if dv, ok := desired[k]; ok {
		pm["desiredValue"] = dv
		pm["desiredVersion"] = desiredVersion
		if t := lastUpdated(dMeta, k); t != nil {
			pm["lastUpdateTime"] = t
		}
	}
	if rv, ok := reported[k]; ok {
		if ack, isAck := rv.(map[string]any); isAck && isAcknowledgement(ack) {
			out[k] = ack["value"]
			for from, to := range map[string]string{"ac": "ackCode", "av": "ackVersion", "ad": "ackDescription"} {
				if v, ok := ack[from]; ok {
					pm[to] = v
				}
			}
		} else {
			out[k] = rv
		}
		if t := lastUpdated(rMeta, k); t != nil {
			pm["lastUpdateTime"] = t
		}
	}
	meta[k] = pm
}

// isAcknowledgement reports whether a reported value is a writable
// property's acknowledgement, {"value": v, "ac": code, ...}.
func isAcknowledgement(m map[string]any) bool {
	_, hasValue := m["value"]
	_, hasCode := m["ac"]
	return hasValue && hasCode
}

func lastUpdated(meta map[string]any, k string) any {
	m, _ := meta[k].(map[string]any)
	return m["$lastUpdated"]
}

// IsComponent reports whether a property value is a component: an object
// holding the marker "__t": "c".
func IsComponent(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m[componentMarker] == componentValue
}

// keys returns the sorted keys of the maps, without the marker and the
// system keys ($metadata, $version).
func keys(ms ...map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if seen[k] || k == componentMarker || strings.HasPrefix(k, "$") {
				continue
			}
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
