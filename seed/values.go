package seed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one section may expand to, aliases
// included, so a file of nested aliases cannot make Parse build an
// exponentially large value. Twin sections are at most 32 KB of content,
// far below it.
const maxNodes = 100_000

// UnmarshalYAML reads a section as JSON values. Scalars keep YAML's types
// (numbers become float64) except timestamps and binary, which stay the
// text as written since JSON has no such types; keys are taken as written.
func (p *Properties) UnmarshalYAML(n *yaml.Node) error {
	c := &yamlConverter{budget: maxNodes}
	v, err := c.value(n)
	if err != nil {
		return &yaml.TypeError{Errors: []string{err.Error()}}
	}
	switch m := v.(type) {
	case nil:
		*p = nil
	case map[string]any:
		*p = m
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a mapping of properties, not %s", n.Line, kindOf(v))}}
	}
	return nil
}

// UnmarshalJSON reads a section, keeping numbers exact until they are
// converted, so that an out-of-range literal is named rather than rounded.
func (p *Properties) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	nv, err := normalize("", v)
	if err != nil {
		return err
	}
	switch m := nv.(type) {
	case nil:
		*p = nil
	case map[string]any:
		*p = m
	default:
		return fmt.Errorf("expected an object of properties, not %s", kindOf(v))
	}
	return nil
}

type yamlConverter struct{ budget int }

func (c *yamlConverter) value(n *yaml.Node) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, fmt.Errorf("line %d: the section expands to more than %d values", n.Line, maxNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return c.value(n.Alias)
	case yaml.ScalarNode:
		return scalar(n)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		if err := c.mapping(n, out, map[string]int{}); err != nil {
			return nil, err
		}
		return out, nil
	default:
		return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
}

// mapping adds n's members to out. Explicit keys win over merged ones
// ("<<: *defaults"), as YAML's merge keys specify; seen maps each explicit
// key to its line to report duplicates.
func (c *yamlConverter) mapping(n *yaml.Node, out map[string]any, seen map[string]int) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a property name must be a plain value, not a list or mapping", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.ShortTag() == "!!null" {
			return fmt.Errorf("line %d: a property name must not be null", k.Line)
		}
		if line, dup := seen[k.Value]; dup {
			return fmt.Errorf("line %d: property %q is already defined at line %d", k.Line, k.Value, line)
		}
		seen[k.Value] = k.Line
		val, err := c.value(v)
		if err != nil {
			return err
		}
		out[k.Value] = val
	}
	for _, m := range merges {
		if err := c.merge(m, out); err != nil {
			return err
		}
	}
	return nil
}

// merge adds the members of a merged mapping (or list of mappings, the
// first winning) that out does not have yet.
func (c *yamlConverter) merge(n *yaml.Node, out map[string]any) error {
	if c.budget--; c.budget < 0 {
		return fmt.Errorf("line %d: the section expands to more than %d values", n.Line, maxNodes)
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		v, err := c.value(n)
		if err != nil {
			return err
		}
		for k, x := range v.(map[string]any) {
			if _, ok := out[k]; !ok {
				out[k] = x
			}
		}
		return nil
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind == yaml.SequenceNode {
				return fmt.Errorf("line %d: a merge key takes mappings, not nested lists", e.Line)
			}
			if err := c.merge(e, out); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("line %d: a merge key (<<) needs a mapping or a list of mappings", n.Line)
	}
}

// scalar converts one YAML scalar to its JSON value.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		out, err := normalize("", v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.Tag)
	}
}

// normalize returns a deep copy of v as JSON values: every number a finite
// float64, every object a map[string]any without null members (a null
// property means absent). Nulls inside lists are values and stay. path
// names v in errors.
func normalize(path string, v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case float64:
		return finite(path, x)
	case float32:
		return finite(path, float64(x))
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%snumber %s is out of range", at(path), x)
		}
		return finite(path, f)
	case int, int8, int16, int32, int64:
		return float64(reflect.ValueOf(x).Int()), nil
	case uint, uint8, uint16, uint32, uint64:
		return float64(reflect.ValueOf(x).Uint()), nil
	case Properties:
		return normalize(path, map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			ne, err := normalize(join(path, k), e)
			if err != nil {
				return nil, err
			}
			out[k] = ne
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ne, err := normalize(fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%svalue of type %T is not a JSON value", at(path), v)
	}
}

// isNormal reports whether normalize would return a copy equal to v:
// what the JSON document scanner builds already is, and then needs no copy.
func isNormal(v any) bool {
	switch x := v.(type) {
	case nil, bool, string:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case map[string]any:
		for _, e := range x {
			if e == nil || !isNormal(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isNormal(e) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

func finite(path string, f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%snumber is not finite", at(path))
	}
	return f, nil
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// kindOf names a JSON value's type for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case []any:
		return "a list"
	default:
		return "a mapping"
	}
}
