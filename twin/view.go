package twin

import (
	"encoding/json"
	"fmt"
)

// Tags returns a fresh copy of the tags; never nil.
func (t *Twin) Tags() map[string]any {
	if t.tags == nil {
		return map[string]any{}
	}
	return copyMap(t.tags)
}

// Properties returns the "properties" object of the service view (REST GET
// /twins/{id}): {"desired":{...,"$metadata":{...},"$version":n},
// "reported":{...,"$metadata":{...},"$version":m}}, as fresh maps the caller
// may keep. Numbers, $version included, are float64.
func (t *Twin) Properties() map[string]any {
	return map[string]any{
		"desired":  sectionView(t.desired, true),
		"reported": sectionView(t.reported, true),
	}
}

// DeviceJSON is the body of the MQTT twin GET response:
// {"desired":{...,"$version":n},"reported":{...,"$version":m}} with no
// $metadata and no tags, as devices receive it.
func (t *Twin) DeviceJSON() []byte {
	doc := map[string]any{
		"desired":  sectionView(t.desired, false),
		"reported": sectionView(t.reported, false),
	}
	b, err := json.Marshal(doc)
	if err != nil {
		// Unreachable: every stored value was validated as JSON. Still hand
		// the device something its SDK can parse rather than nothing.
		return fmt.Appendf(nil, `{"desired":{"$version":%d},"reported":{"$version":%d}}`,
			t.desired.version, t.reported.version)
	}
	return b
}

// sectionView renders a section's content with its $version and, for the
// service view, its $metadata.
func sectionView(s section, withMetadata bool) map[string]any {
	root := s.root
	if root == nil || root.children == nil {
		root = &node{children: map[string]*node{}}
	}
	doc := root.plain().(map[string]any)
	if withMetadata {
		doc["$metadata"] = root.metadata()
	}
	doc["$version"] = float64(s.version)
	return doc
}
