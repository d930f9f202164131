package seed

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// locator returns the line where devices[dev] (mod < 0) or
// devices[dev].modules[mod] starts, or 0 when unknown.
type locator func(dev, mod int) int

// yamlLocator finds identities in a parsed YAML document.
func yamlLocator(root *yaml.Node) locator {
	return func(dev, mod int) int {
		n := member(root.Content[0], "devices")
		n = item(n, dev)
		if n == nil {
			return 0
		}
		if mod < 0 {
			return n.Line
		}
		if n = item(member(n, "modules"), mod); n == nil {
			return 0
		}
		return n.Line
	}
}

func derefNode(n *yaml.Node) *yaml.Node {
	// One level is all a well-formed alias needs; the decoder has already
	// refused anything stranger.
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// member returns the value of key in mapping n.
func member(n *yaml.Node, key string) *yaml.Node {
	n = derefNode(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// item returns element i of sequence n.
func item(n *yaml.Node, i int) *yaml.Node {
	n = derefNode(n)
	if n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
		return nil
	}
	return derefNode(n.Content[i])
}

// where names an identity in an error: its line if known, its position and
// its id.
func where(lines locator, dev, mod int, id string) string {
	pos := fmt.Sprintf("devices[%d]", dev)
	if mod >= 0 {
		pos += fmt.Sprintf(".modules[%d]", mod)
	}
	if id != "" {
		pos += fmt.Sprintf(" (%q)", id)
	}
	if lines != nil {
		if l := lines(dev, mod); l > 0 {
			return fmt.Sprintf("line %d: %s", l, pos)
		}
	}
	return pos
}

// checkExpansion refuses a document whose aliases expand it far beyond its
// written size (nested aliases can grow exponentially), before anything
// decodes it. A document without aliases always passes.
func checkExpansion(root *yaml.Node) error {
	written := countNodes(root, false, -1)
	limit := 2*written + 100_000
	if n := countNodes(root, true, limit); n > limit {
		return fmt.Errorf("its aliases expand it to more than %d values", limit)
	}
	return nil
}

// countNodes counts the nodes under n, following aliases if expand, and
// stops once past limit (limit < 0: no limit).
func countNodes(n *yaml.Node, expand bool, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || (limit >= 0 && count > limit) {
			return
		}
		count++
		if n.Kind == yaml.AliasNode {
			if expand {
				walk(n.Alias)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return count
}
