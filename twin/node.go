package twin

import (
	"slices"
	"strings"
	"time"
)

// node is one object or leaf of a desired or reported section together with
// the metadata IoT Hub keeps for it. Keeping metadata beside the value (rather
// than in a parallel map) makes it impossible for the two trees to drift:
// deleting a key drops its metadata with it.
//
// A fleet holds millions of nodes, so they are kept small: members live in
// a slice sorted by name (inline, one allocation per object rather than a
// map and a node per member) and the timestamp is a tick count.
type node struct {
	children []member // non-nil exactly when the node is an object; sorted by name
	value    any      // leaf value: string, float64, bool or []any
	updated  ticks    // $lastUpdated
	version  int64    // $lastUpdatedVersion (desired only); 0 means none
}

// member is one named child of an object node.
type member struct {
	name string
	node
}

// ticks is a time as IoT Hub keeps it: 100 ns units since 0001-01-01 UTC.
// The zero value is time.Time's zero, and every time a twin holds (years 1
// to 9999, 100 ns resolution) converts both ways without loss.
type ticks int64

// unixTicks is the Unix epoch in ticks.
const unixTicks = 621355968000000000

func toTicks(t time.Time) ticks {
	if t.IsZero() {
		return 0
	}
	return ticks(t.Unix()*1e7 + int64(t.Nanosecond())/100 + unixTicks)
}

func (t ticks) time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	v := int64(t) - unixTicks
	sec, rem := v/1e7, v%1e7
	if rem < 0 {
		sec, rem = sec-1, rem+1e7
	}
	return time.Unix(sec, rem*100).UTC()
}

// appendTime appends t as TimeFormat would format t.time(), without going
// through time.Time: every $lastUpdated of every twin written passes here.
func (t ticks) appendTime(b []byte) []byte {
	const ticksPerDay = 864_000_000_000
	if t < 0 || t >= maxFormattedTicks {
		return t.time().AppendFormat(b, TimeFormat)
	}
	days, rem := int64(t)/ticksPerDay, int64(t)%ticksPerDay
	y, m, d := civil(days)
	hh, rem := rem/36_000_000_000, rem%36_000_000_000
	mm, rem := rem/600_000_000, rem%600_000_000
	ss, frac := rem/10_000_000, rem%10_000_000
	out := [len(TimeFormat)]byte([]byte(timeTemplate))
	for i, v := range [len(timeFields)]int64{y, m, d, hh, mm, ss, frac} {
		f := timeFields[i]
		for j := f.at + f.width - 1; j >= f.at; j-- {
			out[j] = byte('0' + v%10)
			v /= 10
		}
	}
	return append(b, out[:]...)
}

// timeTemplate is TimeFormat with zeros in its fields, and timeFields where
// those are: year, month, day, hour, minute, second, 100 ns.
const timeTemplate = "0000-00-00T00:00:00.0000000Z"

var timeFields = [...]struct{ at, width int }{{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}, {17, 2}, {20, 7}}

// parseTime reads a time in appendTime's layout (TimeFormat, the layout
// every stored twin uses) as the time package would parse it as RFC 3339.
// It reports false for anything else, valid or not, which the caller
// leaves to the time package: a start reads millions of these.
func parseTime(b []byte) (ticks, bool) {
	if len(b) != len(timeTemplate) {
		return 0, false
	}
	// Every byte outside the fields is the template's; every one inside
	// is a digit.
	for i := range b {
		if timeTemplate[i] != '0' && b[i] != timeTemplate[i] {
			return 0, false
		}
	}
	var f [len(timeFields)]int64
	for i, fld := range timeFields {
		for _, c := range b[fld.at : fld.at+fld.width] {
			if c < '0' || c > '9' {
				return 0, false
			}
			f[i] = f[i]*10 + int64(c-'0')
		}
	}
	y, m, d, hh, mm, ss, frac := f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	if y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) || hh > 23 || mm > 59 || ss > 59 {
		return 0, false
	}
	const ticksPerDay = 864_000_000_000
	return ticks(daysFromCivil(y, m, d)*ticksPerDay + hh*36_000_000_000 + mm*600_000_000 + ss*10_000_000 + frac), true
}

func daysIn(year, month int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is civil's inverse: days since 0001-01-01 of a date of
// year 1 or later, counted in 400-year eras from 0000-03-01.
func daysFromCivil(year, month, day int64) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400
	mp := (month + 9) % 12 // month, from March
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 306
}

// maxFormattedTicks is 10000-01-01: from there on years take five digits,
// which appendTime leaves to the time package.
const maxFormattedTicks = 3_155_378_976_000_000_000

// civil turns days since 0001-01-01 into a proleptic Gregorian date, by
// counting 400-year eras from 0000-03-01 so that leap days fall last.
func civil(days int64) (year, month, day int64) {
	z := days + 306 // 0000-03-01 to 0001-01-01
	era := z / 146097
	doe := z - era*146097                                  // day of era
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of year, from March
	mp := (5*doy + 2) / 153                                // month, from March
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = era*400 + yoe
	if month <= 2 {
		year++
	}
	return year, month, day
}

// stamp is what a write records on every node it touches.
type stamp struct {
	at      ticks
	version int64 // desired $version of the write; 0 for reported
}

// stampTime is now as IoT Hub records it: UTC, 100 ns resolution, so that a
// timestamp survives formatting with TimeFormat and parsing back unchanged.
func stampTime(now time.Time) ticks { return toTicks(now) }

func newObject(s stamp) node {
	return node{children: []member{}, updated: s.at, version: s.version}
}

// emptyObject is an object node with no members and no metadata.
func emptyObject() *node { return &node{children: []member{}} }

// find returns the index of the member name, or where it would be inserted.
func (n *node) find(name string) (int, bool) {
	return slices.BinarySearchFunc(n.children, name, func(m member, name string) int {
		return strings.Compare(m.name, name)
	})
}

// child returns the member name of the object n, or nil.
func (n *node) child(name string) *node {
	if i, ok := n.find(name); ok {
		return &n.children[i].node
	}
	return nil
}

// set makes c the member name of the object n, replacing any it had.
func (n *node) set(name string, c node) *node {
	i, ok := n.find(name)
	if ok {
		n.children[i].node = c
	} else {
		n.children = slices.Insert(n.children, i, member{name: name, node: c})
	}
	return &n.children[i].node
}

// remove drops the member name of the object n, if it has one.
func (n *node) remove(name string) {
	if i, ok := n.find(name); ok {
		n.children = slices.Delete(n.children, i, i+1)
	}
}

// newTree builds the node for a validated value, stamping every node in it.
// Nulls inside objects mean "absent" and are dropped; arrays are leaves and
// are kept verbatim.
func newTree(v any, s stamp) node {
	m, ok := v.(map[string]any)
	if !ok {
		return node{value: copyValue(v), updated: s.at, version: s.version}
	}
	n := node{children: make([]member, 0, len(m)), updated: s.at, version: s.version}
	for k, cv := range m {
		if cv != nil {
			n.children = append(n.children, member{name: k, node: newTree(cv, s)})
		}
	}
	sortMembers(n.children)
	return n
}

func sortMembers(ms []member) {
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
}

// merge applies a validated JSON merge-patch to the object node n: objects
// merge recursively, anything else replaces, null deletes. Every node the
// patch names, and every ancestor of one, takes the stamp; a deletion
// therefore shows in its parent's metadata.
func (n *node) merge(patch map[string]any, s stamp) {
	n.updated, n.version = s.at, s.version
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			n.remove(k)
		case map[string]any:
			child := n.child(k)
			if child == nil || child.children == nil {
				child = n.set(k, newObject(s))
			}
			child.merge(pv, s)
		default:
			n.set(k, newTree(pv, s))
		}
	}
}

func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := n.cloneValue()
	return &c
}

func (n *node) cloneValue() node {
	c := node{updated: n.updated, version: n.version}
	if n.children == nil {
		c.value = copyValue(n.value)
		return c
	}
	c.children = make([]member, len(n.children))
	for i := range n.children {
		c.children[i] = member{name: n.children[i].name, node: n.children[i].cloneValue()}
	}
	return c
}

// plain is the node's JSON value without metadata, as a fresh copy.
func (n *node) plain() any {
	if n.children == nil {
		return copyValue(n.value)
	}
	m := make(map[string]any, len(n.children))
	for i := range n.children {
		m[n.children[i].name] = n.children[i].plain()
	}
	return m
}

// metadata is the node's $metadata object as IoT Hub renders it.
func (n *node) metadata() map[string]any {
	m := make(map[string]any, len(n.children)+2)
	m["$lastUpdated"] = string(n.updated.appendTime(nil))
	if n.version != 0 {
		m["$lastUpdatedVersion"] = float64(n.version)
	}
	for i := range n.children {
		m[n.children[i].name] = n.children[i].metadata()
	}
	return m
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = copyValue(e)
		}
		return c
	default:
		return v
	}
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = copyValue(v)
	}
	return c
}

// mergePlain is merge for tags, which carry no metadata.
func mergePlain(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			child, ok := dst[k].(map[string]any)
			if !ok {
				child = map[string]any{}
				dst[k] = child
			}
			mergePlain(child, pv)
		default:
			dst[k] = copyValue(pv)
		}
	}
}

// dropNulls returns a copy of m in which null members of objects (at any
// depth, outside arrays) are removed: in a replacement body null means absent.
func dropNulls(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case nil:
		case map[string]any:
			c[k] = dropNulls(x)
		default:
			c[k] = copyValue(x)
		}
	}
	return c
}
