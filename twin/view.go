package twin

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Tags returns a fresh copy of the tags; never nil.
func (t *Twin) Tags() map[string]any {
	if t.tags == nil {
		return map[string]any{}
	}
	return copyMap(t.tags)
}

// SameTags reports whether t and o hold the very same tags, as a twin and
// the twin a write that left the tags alone made of it do. False says
// nothing: equal tags built apart are not the same.
func (t *Twin) SameTags(o *Twin) bool {
	return t != nil && o != nil && t.tags != nil && o.tags != nil && reflect.ValueOf(t.tags).UnsafePointer() == reflect.ValueOf(o.tags).UnsafePointer()
}

// SharedTags returns the tags themselves, not a copy: a twin never changes
// once built (writes return a new one), so readers may share them, but they
// must not modify them. Never nil.
func (t *Twin) SharedTags() map[string]any {
	if t.tags == nil {
		return map[string]any{}
	}
	return t.tags
}

// TagValue returns the tag value at path (the tags object itself for an
// empty path), shared as SharedTags is, and whether there is one.
func (t *Twin) TagValue(path []string) (any, bool) {
	var cur any = t.SharedTags()
	for _, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// PropertyValue returns the desired (or reported) property at path, which
// must not be empty and must not start at a "$" member: as the service view
// has it under properties.desired (or .reported), without $metadata. Leaf
// values are shared and must not be modified; objects are fresh copies.
func (t *Twin) PropertyValue(desired bool, path []string) (any, bool) {
	n := t.reported.root
	if desired {
		n = t.desired.root
	}
	for _, seg := range path {
		if n == nil || n.children == nil {
			return nil, false
		}
		n = n.child(seg)
	}
	if n == nil {
		return nil, false
	}
	if n.children == nil {
		return n.value, true
	}
	return n.plain(), true
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
		root = emptyObject()
	}
	doc := root.plain().(map[string]any)
	if withMetadata {
		doc["$metadata"] = root.metadata()
	}
	doc["$version"] = float64(s.version)
	return doc
}
