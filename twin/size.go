package twin

// sectionSize is IoT Hub's size of a section's content: for every member,
// the key's length in characters plus the value's size, where a string
// counts its characters other than control characters, a number 8, a
// boolean 4 and an object the sum of its members. $-elements are not part of
// the plain values passed here.
//
// The reference is silent on arrays; they count the sum of their elements,
// each element at least 1, so that an array of empty values is not free.
func sectionSize(m map[string]any) int {
	total := 0
	for k, v := range m {
		total += textSize(k) + valueSize(v)
	}
	return total
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return textSize(x)
	case float64:
		return 8
	case bool:
		return 4
	case map[string]any:
		return sectionSize(x)
	case []any:
		total := 0
		for _, e := range x {
			total += max(valueSize(e), 1)
		}
		return total
	default: // null, only ever inside an array
		return 0
	}
}

func textSize(s string) int {
	n := 0
	for _, r := range s {
		if !isControl(r) {
			n++
		}
	}
	return n
}

// nodeSize is sectionSize of a desired or reported node tree.
func nodeSize(n *node) int {
	if n == nil {
		return 0
	}
	if n.children == nil {
		return valueSize(n.value)
	}
	total := 0
	for i := range n.children {
		total += textSize(n.children[i].name) + nodeSize(&n.children[i].node)
	}
	return total
}

// checkSize rejects a section whose content is over its limit.
func checkSize(section string, size, limit int) error {
	if size > limit {
		return invalid("%s would be %d bytes after this update; the limit is %d bytes", section, size, limit)
	}
	return nil
}
