package twin

import (
	"strconv"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonenc"
)

// The storage form is written by hand rather than through encoding/json:
// every twin write encodes the whole twin, and building the view's maps to
// hand them to reflection was most of a reported round trip's work. The
// output is what encoding/json would write for the same maps (sorted keys,
// its number and string forms) except that a section's $metadata and
// $version, and a node's $lastUpdated and $lastUpdatedVersion, always come
// first, as the Loader reads them fastest.

// AppendStored appends the storage form of t to b, as MarshalJSON
// writes it.
func (t *Twin) AppendStored(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, t.version, 10)
	b = append(b, `,"etag":"`...)
	b = append(b, formatETag(t.etag)...)
	b = append(b, `","tags":`...)
	if t.tags == nil {
		b = append(b, "{}"...)
	} else {
		b = jsonenc.AppendValue(b, t.tags)
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
	var last stampMemo
	b = appendMetadata(b, root, &last)
	b = append(b, `,"$version":`...)
	b = strconv.AppendInt(b, s.version, 10)
	return append(appendMembers(b, root, true), '}')
}

// appendNode appends a node's value without metadata.
func appendNode(b []byte, n *node) []byte {
	if n.children == nil {
		return jsonenc.AppendValue(b, n.value)
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
		b = jsonenc.AppendString(b, n.children[i].name)
		b = append(b, ':')
		b = appendNode(b, &n.children[i].node)
	}
	return b
}

// stampMemo is where the last $lastUpdated of a section was written: most
// of a section's timestamps repeat the one before (every member one patch
// wrote carries the patch's), and copying the bytes written already is
// cheaper than formatting them again.
type stampMemo struct {
	at  ticks
	off int // where in b its text starts
	set bool
}

// appendTime appends t as ticks.appendTime does.
func (m *stampMemo) appendTime(b []byte, t ticks) []byte {
	if m.set && m.at == t {
		return append(b, b[m.off:m.off+len(TimeFormat)]...)
	}
	off := len(b)
	b = t.appendTime(b)
	if len(b)-off == len(TimeFormat) {
		*m = stampMemo{at: t, off: off, set: true}
	}
	return b
}

// appendMetadata appends a node's $metadata object.
func appendMetadata(b []byte, n *node, last *stampMemo) []byte {
	b = append(b, `{"$lastUpdated":"`...)
	b = last.appendTime(b, n.updated)
	b = append(b, '"')
	if n.version != 0 {
		b = append(b, `,"$lastUpdatedVersion":`...)
		b = strconv.AppendInt(b, n.version, 10)
	}
	for i := range n.children {
		b = append(b, ',')
		b = jsonenc.AppendString(b, n.children[i].name)
		b = append(b, ':')
		b = appendMetadata(b, &n.children[i].node, last)
	}
	return append(b, '}')
}

// AppendTags appends the tags as json.Marshal(t.Tags()) writes them.
func (t *Twin) AppendTags(b []byte) []byte { return jsonenc.AppendValue(b, t.SharedTags()) }

// AppendProperties appends the "properties" object of the service view
// exactly as json.Marshal(t.Properties()) writes it: every object's keys
// in order, "$metadata" and "$version" (and "$lastUpdated",
// "$lastUpdatedVersion") among them, without building the maps.
func (t *Twin) AppendProperties(b []byte) []byte {
	b = append(b, `{"desired":`...)
	b = appendViewSection(b, t.desired)
	b = append(b, `,"reported":`...)
	b = appendViewSection(b, t.reported)
	return append(b, '}')
}

// viewMember is one member an object of the view has beside its node's
// members, written where its name sorts.
type viewMember struct {
	name  string
	write func(b []byte) []byte
}

// appendSorted writes the members of n and extra (already in order) as one
// object, every name in encoding/json's order.
func appendSorted(b []byte, n *node, extra []viewMember, value func(b []byte, c *node) []byte) []byte {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	i, j := 0, 0
	for i < len(n.children) || j < len(extra) {
		if j < len(extra) && (i == len(n.children) || extra[j].name < n.children[i].name) {
			sep()
			b = jsonenc.AppendString(b, extra[j].name)
			b = append(b, ':')
			b = extra[j].write(b)
			j++
			continue
		}
		sep()
		b = jsonenc.AppendString(b, n.children[i].name)
		b = append(b, ':')
		b = value(b, &n.children[i].node)
		i++
	}
	return append(b, '}')
}

func appendViewSection(b []byte, s section) []byte {
	root := s.root
	if root == nil || root.children == nil {
		root = emptyObject()
	}
	return appendSorted(b, root, []viewMember{
		{"$metadata", func(b []byte) []byte { return appendViewMetadata(b, root) }},
		{"$version", func(b []byte) []byte { return strconv.AppendInt(b, s.version, 10) }},
	}, appendNode)
}

func appendViewMetadata(b []byte, n *node) []byte {
	extra := []viewMember{{"$lastUpdated", func(b []byte) []byte {
		b = append(b, '"')
		b = n.updated.appendTime(b)
		return append(b, '"')
	}}}
	if n.version != 0 {
		extra = append(extra, viewMember{"$lastUpdatedVersion", func(b []byte) []byte { return strconv.AppendInt(b, n.version, 10) }})
	}
	return appendSorted(b, n, extra, appendViewMetadata)
}
