package seed

import (
	"reflect"
	"strings"
)

// viewSections takes tags, desired and reported properties out of a twin's
// service view, without $metadata and $version, as fresh non-nil maps (the
// view is shared and must not be modified).
func viewSections(view map[string]any) (tags, desired, reported map[string]any) {
	tags = plain(view["tags"])
	props, _ := view["properties"].(map[string]any)
	return tags, plain(props["desired"]), plain(props["reported"])
}

// plain copies a section's top level without its $-members; deeper levels
// never hold any.
func plain(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m))
	for k, x := range m {
		if !strings.HasPrefix(k, "$") {
			out[k] = x
		}
	}
	return out
}

// mergePatch returns the JSON merge-patch that turns cur into want: members
// cur has and want does not become null, objects on both sides are patched
// member by member, and any other difference takes want's value. It is
// empty when they are equal.
func mergePatch(cur, want map[string]any) map[string]any {
	patch := map[string]any{}
	for k := range cur {
		if _, ok := want[k]; !ok {
			patch[k] = nil
		}
	}
	for k, w := range want {
		c, ok := cur[k]
		if ok && reflect.DeepEqual(c, w) {
			continue
		}
		cm, cObj := c.(map[string]any)
		wm, wObj := w.(map[string]any)
		if ok && cObj && wObj {
			patch[k] = mergePatch(cm, wm)
			continue
		}
		patch[k] = w
	}
	return patch
}
