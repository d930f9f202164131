package digitaltwin

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// maxOps bounds one patch; a twin's desired section cannot hold more
// properties than this anyway.
const maxOps = 1000

// Op is one JSON Patch operation (RFC 6902) on a digital twin: add,
// replace or remove, at a path of decoded JSON Pointer segments.
type Op struct {
	Op    string
	Path  []string
	Value any
}

type wireOp struct {
	Op    string           `json:"op"`
	Path  *string          `json:"path"`
	Value *json.RawMessage `json:"value"`
}

// ParsePatch decodes a JSON Patch body. It refuses what a digital twin
// cannot take: operations other than add, replace and remove, paths that
// are not JSON Pointers below the root, that name a system property ($…)
// or the component marker, and add or replace without a value.
func ParsePatch(body []byte) ([]Op, error) {
	var wire []wireOp
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&wire); err != nil {
		return nil, invalid("The digital twin patch must be a JSON array of operations: %v.", err)
	}
	if dec.More() {
		return nil, invalid("The digital twin patch must be one JSON array.")
	}
	if len(wire) == 0 {
		return nil, invalid("The digital twin patch holds no operation.")
	}
	if len(wire) > maxOps {
		return nil, invalid("The digital twin patch holds %d operations; at most %d are allowed.", len(wire), maxOps)
	}
	ops := make([]Op, 0, len(wire))
	for i, w := range wire {
		op := Op{Op: w.Op}
		switch w.Op {
		case "add", "replace", "remove":
		case "":
			return nil, invalid("Operation %d names no op.", i)
		default:
			return nil, invalid("Operation %d: op %q is not supported; use add, replace or remove.", i, w.Op)
		}
		if w.Path == nil {
			return nil, invalid("Operation %d names no path.", i)
		}
		segs, err := pointer(*w.Path)
		if err != nil {
			return nil, invalid("Operation %d: %v", i, err)
		}
		op.Path = segs
		if w.Op != "remove" {
			if w.Value == nil {
				return nil, invalid("Operation %d (%s %s) has no value.", i, w.Op, *w.Path)
			}
			v, err := decodeValue(*w.Value)
			if err != nil {
				return nil, invalid("Operation %d: the value is not valid JSON: %v.", i, err)
			}
			op.Value = v
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// decodeValue decodes a value with numbers as float64, as twins hold them.
func decodeValue(raw json.RawMessage) (any, error) {
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err
}

// pointer splits a JSON Pointer into its decoded segments.
func pointer(p string) ([]string, error) {
	if p == "" || p == "/" {
		return nil, errString("the path must name a property, not the whole digital twin")
	}
	if !strings.HasPrefix(p, "/") {
		return nil, errString("the path " + quote(p) + " is not a JSON Pointer: it must start with '/'")
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(s, "~0", ""), "~1", ""), "~") {
			return nil, errString("the path " + quote(p) + " holds an invalid escape")
		}
		s = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
		if s == "" {
			return nil, errString("the path " + quote(p) + " has an empty segment")
		}
		if strings.HasPrefix(s, "$") || s == componentMarker {
			return nil, errString("the path " + quote(p) + " names a system property, which cannot be written")
		}
		segs[i] = s
	}
	return segs, nil
}

// DesiredPatch turns ops into the desired-properties patch that applies
// them to the twin whose service view is view: a property write becomes a
// desired value, a removal a null, and a component write carries the
// component marker. replace and remove need the target to exist (as a
// desired or reported property). view is not modified.
func DesiredPatch(view map[string]any, ops []Op) (map[string]any, error) {
	props, _ := view["properties"].(map[string]any)
	desired, _ := props["desired"].(map[string]any)
	reported, _ := props["reported"].(map[string]any)
	patch := map[string]any{}
	for i, op := range ops {
		head := op.Path[0]
		isComp := IsComponent(desired[head]) || IsComponent(reported[head])
		newComp := false
		if m, ok := op.Value.(map[string]any); ok && len(op.Path) == 1 && op.Op != "remove" {
			// A component is added with a $metadata member, as IoT Hub asks.
			_, newComp = m["$metadata"]
		}
		if op.Op != "add" && !exists(desired, reported, op.Path) {
			return nil, invalid("Operation %d (%s /%s): the digital twin has no such property.", i, op.Op, strings.Join(op.Path, "/"))
		}
		switch {
		case (isComp || newComp) && len(op.Path) == 1:
			if op.Op == "remove" {
				patch[head] = nil
				continue
			}
			m, ok := op.Value.(map[string]any)
			if !ok {
				return nil, invalid("Operation %d (%s /%s): a component's value must be an object.", i, op.Op, head)
			}
			comp := map[string]any{componentMarker: componentValue}
			if op.Op == "replace" {
				// Replacing a component drops the properties it no longer has.
				dc, _ := desired[head].(map[string]any)
				for k := range dc {
					if k != componentMarker && !strings.HasPrefix(k, "$") {
						comp[k] = nil
					}
				}
			}
			for k, v := range m {
				if k == "$metadata" {
					continue
				}
				if strings.HasPrefix(k, "$") || k == componentMarker {
					return nil, invalid("Operation %d: %s cannot be written in a component.", i, quote(k))
				}
				comp[k] = v
			}
			patch[head] = comp
		default:
			var v any
			if op.Op != "remove" {
				v = op.Value
			}
			setPath(patch, op.Path, v)
			if isComp {
				patch[head].(map[string]any)[componentMarker] = componentValue
			}
		}
	}
	return patch, nil
}

// exists reports whether path names a desired or reported property.
func exists(desired, reported map[string]any, path []string) bool {
	for _, sec := range []map[string]any{desired, reported} {
		var cur any = sec
		found := true
		for _, s := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				found = false
				break
			}
			v, ok := m[s]
			if !ok {
				found = false
				break
			}
			cur = v
		}
		if found {
			return true
		}
	}
	return false
}

// setPath sets path to v in dst, creating (or replacing non-object)
// intermediate objects.
func setPath(dst map[string]any, path []string, v any) {
	for _, s := range path[:len(path)-1] {
		next, ok := dst[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			dst[s] = next
		}
		dst = next
	}
	dst[path[len(path)-1]] = v
}

func invalid(format string, args ...any) error {
	return errcode.New(errcode.ArgumentInvalid, format, args...)
}

type errString string

func (e errString) Error() string { return string(e) }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
