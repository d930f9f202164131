package twin

import (
	"bytes"
	"encoding/json"
	"sort"
)

// keyOrder records the order in which a JSON object spelled its keys, and
// that of its nested objects. Go maps forget it; a desired-property
// notification must keep it, because device code (the Python PnP helper, for
// one) reads a patch's first key as its component name.
type keyOrder struct {
	keys     []string
	children map[string]*keyOrder // nil entries for members that are not objects
}

func (o *keyOrder) child(k string) *keyOrder {
	if o == nil {
		return nil
	}
	return o.children[k]
}

// desiredKeyOrder reads the key order of properties.desired in a twin body,
// or returns nil if the body has none.
func desiredKeyOrder(body []byte) *keyOrder {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	doc, err := readKeyOrder(dec)
	if err != nil {
		return nil
	}
	return doc.child("properties").child("desired")
}

// readKeyOrder consumes one JSON value and returns its key order if it is an
// object. A repeated key keeps its first position, as the decoder keeps its
// last value.
func readKeyOrder(dec *json.Decoder) (*keyOrder, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &keyOrder{children: map[string]*keyOrder{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			child, err := readKeyOrder(dec)
			if err != nil {
				return nil, err
			}
			if _, seen := o.children[k]; !seen {
				o.keys = append(o.keys, k)
			}
			o.children[k] = child
		}
		_, err = dec.Token()
		return o, err
	case json.Delim('['):
		for dec.More() {
			if _, err := readKeyOrder(dec); err != nil {
				return nil, err
			}
		}
		_, err = dec.Token()
		return nil, err
	default:
		return nil, nil
	}
}

// marshalOrdered encodes v as json.Marshal would, except that object keys
// come in o's order, keys o does not know follow in sorted order, and
// "$version" comes last, where IoT Hub puts it in a notification.
func marshalOrdered(v any, o *keyOrder) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeOrdered(&buf, v, o); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeOrdered(buf *bytes.Buffer, v any, o *keyOrder) error {
	m, ok := v.(map[string]any)
	if !ok {
		b, err := json.Marshal(v)
		buf.Write(b)
		return err
	}
	keys := make([]string, 0, len(m))
	placed := make(map[string]bool, len(m))
	if o != nil {
		for _, k := range o.keys {
			if _, ok := m[k]; ok && k != "$version" && !placed[k] {
				keys = append(keys, k)
				placed[k] = true
			}
		}
	}
	rest := make([]string, 0, len(m)-len(keys))
	for k := range m {
		if !placed[k] && k != "$version" {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	if _, ok := m["$version"]; ok {
		keys = append(keys, "$version")
	}
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		if err := writeOrdered(buf, m[k], o.child(k)); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}
