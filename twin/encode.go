package twin

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The storage form is written by hand rather than through encoding/json:
// every twin write encodes the whole twin, and building the view's maps to
// hand them to reflection was most of a reported round trip's work. The
// output is what encoding/json would write for the same maps (sorted keys,
// its number and string forms) except that a section's $metadata and
// $version, and a node's $lastUpdated and $lastUpdatedVersion, always come
// first, as the Loader reads them fastest.

// appendStored appends the storage form of t.
func (t *Twin) appendStored(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, t.version, 10)
	b = append(b, `,"etag":"`...)
	b = append(b, formatETag(t.etag)...)
	b = append(b, `","tags":`...)
	if t.tags == nil {
		b = append(b, "{}"...)
	} else {
		b = appendValue(b, t.tags)
	}
	b = append(b, `,"properties":{"desired":`...)
	b = appendSection(b, t.desired)
	b = append(b, `,"reported":`...)
	b = appendSection(b, t.reported)
	return append(b, "}}"...)
}

func appendSection(b []byte, s section) []byte {
	root := s.root
	if root == nil || root.children == nil {
		root = emptyObject()
	}
	b = append(b, `{"$metadata":`...)
	b = appendMetadata(b, root)
	b = append(b, `,"$version":`...)
	b = strconv.AppendInt(b, s.version, 10)
	return append(appendMembers(b, root, true), '}')
}

// appendNode appends a node's value without metadata.
func appendNode(b []byte, n *node) []byte {
	if n.children == nil {
		return appendValue(b, n.value)
	}
	return append(appendMembers(append(b, '{'), n, false), '}')
}

// appendMembers appends the members of the object n as "name":value
// pairs, each after a comma if comma, else between commas.
func appendMembers(b []byte, n *node, comma bool) []byte {
	for i := range n.children {
		if comma || i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, n.children[i].name)
		b = append(b, ':')
		b = appendNode(b, &n.children[i].node)
	}
	return b
}

// appendMetadata appends a node's $metadata object.
func appendMetadata(b []byte, n *node) []byte {
	b = append(b, `{"$lastUpdated":"`...)
	b = n.updated.time().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	if n.version != 0 {
		b = append(b, `,"$lastUpdatedVersion":`...)
		b = strconv.AppendInt(b, n.version, 10)
	}
	for i := range n.children {
		b = append(b, ',')
		b = appendString(b, n.children[i].name)
		b = append(b, ':')
		b = appendMetadata(b, &n.children[i].node)
	}
	return append(b, '}')
}

// appendValue appends a JSON value as encoding/json writes it.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return appendFloat(b, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	}
	// Not a decoded JSON value (a caller's own type): encoding/json's form.
	enc, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// appendString writes plain ASCII directly; anything encoding/json would
// escape (quotes, controls, <, >, &, U+2028, invalid UTF-8) goes through it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat writes a number as encoding/json does: the shortest form that
// reads back the same, in exponent form only for very large or small ones.
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...) // never in a twin: JSON has no such numbers
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
