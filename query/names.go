package query

import "strings"

// reserved words cannot be bare path segments or aliases; [[word]] escapes
// them.
var reserved = map[string]bool{
	"select": true, "top": true, "from": true, "where": true, "group": true, "by": true,
	"as": true, "and": true, "or": true, "not": true, "in": true, "nin": true,
	"true": true, "false": true, "null": true, "undefined": true,
}

func isReserved(name string) bool { return reserved[strings.ToLower(name)] }

// rootNames maps the lower-cased identity attribute names to the casing the
// documents use; they match case-insensitively and project canonically.
var rootNames = canonical(
	"deviceId", "moduleId", "status", "statusReason", "statusUpdateTime", "connectionState",
	"lastActivityTime", "cloudToDeviceMessageCount", "authenticationType", "version", "etag",
	"deviceEtag", "modelId", "capabilities", "x509Thumbprint", "tags", "properties",
	"deviceScope", "parentScopes",
)

// childNames are the system-defined names one level down; user-defined names
// (below tags, desired, reported) stay case-sensitive.
var childNames = map[string]map[string]string{
	"properties":     canonical("desired", "reported"),
	"capabilities":   canonical("iotEdge"),
	"x509Thumbprint": canonical("primaryThumbprint", "secondaryThumbprint"),
}

func canonical(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}

// canonicalize rewrites the system-defined leading segments of a path in
// place. Escaped segments are canonicalized too: escaping changes whether a
// word is reserved, not what it names.
func canonicalize(segs []string) {
	if c, ok := rootNames[strings.ToLower(segs[0])]; ok {
		segs[0] = c
	}
	if len(segs) > 1 {
		if kids, ok := childNames[segs[0]]; ok {
			if c, ok := kids[strings.ToLower(segs[1])]; ok {
				segs[1] = c
			}
		}
	}
}

func pathKey(segs []string) string { return strings.Join(segs, "\x00") }

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
