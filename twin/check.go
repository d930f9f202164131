package twin

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// IoT Hub's limits on twin content.
const (
	MaxKeyBytes    = 1024 // a key, in UTF-8 bytes
	MaxStringBytes = 4096 // a string value, in UTF-8 bytes
	MaxDepth       = 10   // levels of nested objects inside a section

	MaxTagsSize     = 8 * 1024  // tags, computed by sectionSize
	MaxDesiredSize  = 32 * 1024 // properties.desired
	MaxReportedSize = 32 * 1024 // properties.reported

	// MaxInteger and MinInteger bound integral numbers (±2^52).
	MaxInteger = 1<<52 - 1
	MinInteger = -(1 << 52)
)

// Section names as they appear in error messages and the service view.
const (
	secTags     = "tags"
	secDesired  = "properties.desired"
	secReported = "properties.reported"
)

// invalid is the one error every rule violation becomes.
func invalid(format string, args ...any) error {
	return errcode.New(errcode.ArgumentInvalid, format, args...)
}

// checked validates a patch or document for one section and returns a deep
// copy in which every number is a float64. Nulls are kept (a patch uses them
// to delete; Replace drops them afterwards). It never modifies m.
func checked(section string, m map[string]any) (map[string]any, error) {
	c := checker{section: section}
	return c.object(m, 0, true)
}

// checker checks the values of one section. It keeps the path down to the
// value it checks as a stack of members and indexes, and turns it into the
// text error messages name ("properties.desired.a.b[2]") only when a check
// fails, so that a valid write builds no strings.
type checker struct {
	section string
	path    []pathStep
}

// pathStep is a member's name, or (name "") an array element's index.
type pathStep struct {
	name  string
	index int
}

func (c *checker) push(name string) { c.path = append(c.path, pathStep{name: name}) }
func (c *checker) pushIndex(i int)  { c.path = append(c.path, pathStep{index: i}) }
func (c *checker) pop()             { c.path = c.path[:len(c.path)-1] }

// at is the path of the value being checked.
func (c *checker) at() string {
	b := []byte(c.section)
	for _, st := range c.path {
		if st.name == "" {
			b = append(strconv.AppendInt(append(b, '['), int64(st.index), 10), ']')
			continue
		}
		b = append(append(b, '.'), st.name...)
	}
	return string(b)
}

// withoutReadOnly drops the read-only members a desired section copied from
// a GET carries ($metadata and $version at its top). Any other "$" key, in
// desired or in tags (which have no such members), is left for checkKey to
// refuse.
func withoutReadOnly(section string, m map[string]any) map[string]any {
	if section != secDesired {
		return m
	}
	_, meta := m["$metadata"]
	_, ver := m["$version"]
	if !meta && !ver {
		return m
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != "$metadata" && k != "$version" {
			c[k] = v
		}
	}
	return c
}

// object validates an object whose own nesting level is depth (0 for a
// section root) and copies it, without its null members unless keepNulls.
func (c *checker) object(m map[string]any, depth int, keepNulls bool) (map[string]any, error) {
	if depth > MaxDepth {
		return nil, invalid("%s: objects are nested more than %d levels deep inside the section", c.at(), MaxDepth)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if err := checkKey(k); err != nil {
			return nil, invalid("invalid key %s in %s: %v", quoteShort(k), c.at(), err)
		}
		if v == nil && !keepNulls {
			continue
		}
		c.push(k)
		cv, err := c.value(v, depth, keepNulls)
		c.pop()
		if err != nil {
			return nil, err
		}
		out[k] = cv
	}
	return out, nil
}

// value validates one value; depth is the level of the enclosing object.
// Nulls inside arrays are values, kept whatever keepNulls says.
func (c *checker) value(v any, depth int, keepNulls bool) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if len(x) > MaxStringBytes {
			return nil, invalid("value of %s is %d bytes; a string value must not exceed %d bytes", c.at(), len(x), MaxStringBytes)
		}
		return v, nil
	case float64:
		return v, c.number(x) // v, not x: no new box for the number
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, invalid("value of %s (%s) is not a representable number", c.at(), quoteShort(string(x)))
		}
		return f, c.number(f)
	case map[string]any:
		return c.object(x, depth+1, keepNulls)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c.pushIndex(i)
			ce, err := c.value(e, depth, true)
			c.pop()
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	default:
		return nil, invalid("value of %s has unsupported type %T", c.at(), v)
	}
}

// tree validates an object as object does (nulls dropped) and builds its
// node in the same pass, every node stamped with s: what a replaced
// section, or a patch merged into an empty one, becomes.
func (c *checker) tree(m map[string]any, depth int, s stamp) (node, error) {
	if depth > MaxDepth {
		return node{}, invalid("%s: objects are nested more than %d levels deep inside the section", c.at(), MaxDepth)
	}
	n := node{children: make([]member, 0, len(m)), updated: s.at, version: s.version}
	for k, v := range m {
		if err := checkKey(k); err != nil {
			return node{}, invalid("invalid key %s in %s: %v", quoteShort(k), c.at(), err)
		}
		if v == nil {
			continue
		}
		c.push(k)
		var child node
		var err error
		if x, ok := v.(map[string]any); ok {
			child, err = c.tree(x, depth+1, s)
		} else {
			child = node{updated: s.at, version: s.version}
			child.value, err = c.value(v, depth, false)
		}
		c.pop()
		if err != nil {
			return node{}, err
		}
		n.children = append(n.children, member{name: k, node: child})
	}
	sortMembers(n.children)
	return n, nil
}

// number rejects numbers JSON cannot carry and integral numbers outside
// ±2^52. The integer rule is applied to the value, not to how it was written,
// so 1e20 is refused like 100000000000000000000: everything stored can be
// read back and written again.
func (c *checker) number(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return invalid("value of %s is not a finite number", c.at())
	}
	if f == math.Trunc(f) && (f > MaxInteger || f < MinInteger) {
		return invalid("value of %s (%s) is an integer outside the supported range %d to %d",
			c.at(), formatNumber(f), int64(MinInteger), int64(MaxInteger))
	}
	return nil
}

// formatNumber writes an integral number in full unless it is too long to read.
func formatNumber(f float64) string {
	if math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// checkKey applies IoT Hub's key rules and says which one a key breaks.
func checkKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("a key must not be empty")
	case len(k) > MaxKeyBytes:
		return fmt.Errorf("a key must not exceed %d bytes of UTF-8 (it has %d)", MaxKeyBytes, len(k))
	}
	for _, r := range k {
		switch {
		case r == '.':
			return fmt.Errorf("a key must not contain '.'")
		case r == '$':
			return fmt.Errorf("a key must not contain '$'")
		case r == ' ':
			return fmt.Errorf("a key must not contain a space")
		case isControl(r):
			return fmt.Errorf("a key must not contain control character U+%04X", r)
		}
	}
	return nil
}

// isControl reports whether r is in the C0 (U+0000–U+001F) or C1
// (U+0080–U+009F) control block, the two blocks IoT Hub's rules name.
func isControl(r rune) bool {
	return r <= 0x1F || (r >= 0x80 && r <= 0x9F)
}

// quoteShort quotes a key for an error message, eliding the middle of keys
// too long to be useful in full.
func quoteShort(s string) string {
	const keep = 64
	if utf8.RuneCountInString(s) <= keep {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:keep/2])+"…"+string(r[len(r)-keep/2:])) + fmt.Sprintf(" (%d bytes)", len(s))
}
