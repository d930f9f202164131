package twin

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// stored is the persisted form of a twin: the service view's tags and
// properties (with $metadata and $version) plus the twin version and ETag,
// so a stored twin reads like what GET /twins returns.
type stored struct {
	Version    int64          `json:"version"`
	ETag       string         `json:"etag"`
	Tags       map[string]any `json:"tags"`
	Properties struct {
		Desired  map[string]any `json:"desired"`
		Reported map[string]any `json:"reported"`
	} `json:"properties"`
}

// MarshalJSON writes the storage form (see encode.go). UnmarshalJSON and
// Loader read it back exactly: values, metadata timestamps and all versions.
func (t *Twin) MarshalJSON() ([]byte, error) {
	return t.AppendStored(make([]byte, 0, 1024)), nil
}

// UnmarshalJSON reads the storage form written by MarshalJSON. On error the
// receiver is unchanged.
func (t *Twin) UnmarshalJSON(b []byte) error {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("twin: decode: %w", err)
	}
	etag, ok := parseETag(s.ETag)
	if !ok {
		return fmt.Errorf("twin: decode: etag %q is not base64 of 8 bytes", s.ETag)
	}
	desired, err := loadSection(secDesired, s.Properties.Desired, true)
	if err != nil {
		return err
	}
	reported, err := loadSection(secReported, s.Properties.Reported, false)
	if err != nil {
		return err
	}
	if s.Tags == nil {
		s.Tags = map[string]any{}
	}
	if err := noNulls(secTags, s.Tags); err != nil {
		return err
	}
	*t = Twin{tags: s.Tags, desired: desired, reported: reported, version: s.Version, etag: etag}
	return nil
}

func loadSection(name string, m map[string]any, desired bool) (section, error) {
	if m == nil {
		return section{}, fmt.Errorf("twin: decode: %s is missing", name)
	}
	version, err := loadInt(name+".$version", m["$version"])
	if err != nil {
		return section{}, err
	}
	meta, ok := m["$metadata"].(map[string]any)
	if !ok {
		return section{}, fmt.Errorf("twin: decode: %s.$metadata is missing or not an object", name)
	}
	content := make(map[string]any, len(m))
	for k, v := range m {
		if strings.HasPrefix(k, "$") {
			if k != "$version" && k != "$metadata" {
				return section{}, fmt.Errorf("twin: decode: unexpected member %s.%s", name, k)
			}
			continue
		}
		content[k] = v
	}
	root, err := loadNode(name, content, meta, desired)
	if err != nil {
		return section{}, err
	}
	return section{root: root, version: version}, nil
}

// loadNode rebuilds a node from its value and its $metadata object.
func loadNode(path string, v any, meta map[string]any, desired bool) (*node, error) {
	ts, ok := meta["$lastUpdated"].(string)
	if !ok {
		return nil, fmt.Errorf("twin: decode: %s has no $lastUpdated", path)
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, fmt.Errorf("twin: decode: %s.$lastUpdated: %w", path, err)
	}
	n := &node{updated: stampTime(at)}
	if lv, ok := meta["$lastUpdatedVersion"]; ok && desired {
		if n.version, err = loadInt(path+".$lastUpdatedVersion", lv); err != nil {
			return nil, err
		}
	}
	m, isObject := v.(map[string]any)
	if !isObject {
		n.value = v
		return n, noNulls(path, v)
	}
	n.children = make([]member, 0, len(m))
	for k, cv := range m {
		if cv == nil {
			return nil, fmt.Errorf("twin: decode: %s.%s is null", path, k)
		}
		cm, ok := meta[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("twin: decode: %s.%s has no metadata", path, k)
		}
		child, err := loadNode(path+"."+k, cv, cm, desired)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, member{name: k, node: *child})
	}
	sortMembers(n.children)
	return n, nil
}

// noNulls rejects a stored null member of an object: nulls are never stored
// (outside arrays, which keep their elements verbatim).
func noNulls(path string, v any) error {
	if at := nullAt(v); at != nil {
		return fmt.Errorf("twin: decode: %s.%s is null", path, strings.Join(at, "."))
	}
	return nil
}

// nullAt returns the keys from v down to a null member of an object in it,
// or nil if it holds none; it builds them only when it finds one.
func nullAt(v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for k, cv := range m {
		if cv == nil {
			return []string{k}
		}
		if at := nullAt(cv); at != nil {
			return append([]string{k}, at...)
		}
	}
	return nil
}

func loadInt(path string, v any) (int64, error) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 0 || f > MaxInteger {
		return 0, fmt.Errorf("twin: decode: %s must be a non-negative integer, got %v", path, v)
	}
	return int64(f), nil
}
