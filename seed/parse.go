package seed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// MaxDocumentSize bounds what Parse and Load read: room for thousands of
// identities with full twins.
const MaxDocumentSize = 64 << 20

// Parse reads a seed document in format "yaml", "json", or "" to tell from
// the content (valid JSON is JSON, anything else YAML). It is strict:
// unknown fields, duplicate keys, a second YAML document, and any id, key or
// twin content the hub would refuse are errors, reported before anything is
// applied, with the line where the format gives one. The error is an
// *errcode.Error with code ArgumentInvalid. The document returned is in
// canonical form.
func Parse(data []byte, format string) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, errcode.New(errcode.MessageTooLarge, "The seed document is %d bytes; the limit is %d.", len(data), MaxDocumentSize)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalidDoc("the document is empty")
	}
	var (
		d     *Document
		lines locator
		err   error
	)
	f := strings.ToLower(format)
	if f == FormatJSON || f == "" {
		if d, ok := scanDocument(data); ok {
			return prepare(d, nil)
		}
	}
	switch f {
	case FormatJSON:
		d, err = parseJSON(data)
	case FormatYAML:
		d, lines, err = parseYAML(data)
	case "":
		if json.Valid(data) {
			d, err = parseJSON(data)
			break
		}
		d, lines, err = parseYAML(data)
		if err != nil && looksLikeJSON(data) {
			// Meant as JSON: its own syntax error says more than YAML's.
			_, err = parseJSON(data)
		}
	default:
		return nil, badFormat(format)
	}
	if err != nil {
		return nil, err
	}
	return prepare(d, lines)
}

// Load reads and parses a seed file; its extension (.json, .yaml, .yml)
// names the format, anything else is told from the content.
func Load(path string) (*Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("seed: read %s: %w", path, err)
	}
	format := ""
	switch {
	case strings.HasSuffix(strings.ToLower(path), ".json"):
		format = FormatJSON
	case strings.HasSuffix(strings.ToLower(path), ".yaml"), strings.HasSuffix(strings.ToLower(path), ".yml"):
		format = FormatYAML
	}
	d, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return d, nil
}

func invalidDoc(format string, args ...any) error {
	return errcode.New(errcode.ArgumentInvalid, "The seed document is invalid: "+format, args...)
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func parseYAML(data []byte) (*Document, locator, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, nil, invalidDoc("%s", yamlProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, nil, invalidDoc("%s", yamlProblem(err))
		}
		return nil, nil, invalidDoc("line %d: a second YAML document; a seed file holds one", line)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, nil, invalidDoc("the document must be a mapping with a devices list")
	}
	if err := checkExpansion(&root); err != nil {
		return nil, nil, invalidDoc("%v", err)
	}
	// Decode again for the structure: only the decoder refuses unknown
	// fields, and the node above locates the identities for later errors.
	d := new(Document)
	sdec := yaml.NewDecoder(bytes.NewReader(data))
	sdec.KnownFields(true)
	if err := sdec.Decode(d); err != nil {
		return nil, nil, invalidDoc("%s", yamlProblem(err))
	}
	return d, yamlLocator(&root), nil
}

var (
	yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type seed\.(\w+)`)
	yamlGoType       = regexp.MustCompile(`into (\[\])?(map\[string\]interface \{\}|seed\.\w+|\*seed\.\w+|string|bool)`)
)

// yamlProblem rewords the YAML library's errors in terms of the document
// rather than Go types.
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		m = yamlUnknownField.ReplaceAllStringFunc(m, func(s string) string {
			sub := yamlUnknownField.FindStringSubmatch(s)
			if sub[2] == "Hub" {
				return fmt.Sprintf("unknown field %q in hub, which is reserved and must be empty", sub[1])
			}
			return fmt.Sprintf("unknown field %q in %s (known: %s)", sub[1], what(sub[2]), knownFields(sub[2]))
		})
		m = yamlGoType.ReplaceAllStringFunc(m, func(s string) string {
			sub := yamlGoType.FindStringSubmatch(s)
			name := sub[2]
			if sub[1] != "" {
				return "into a list"
			}
			switch {
			case strings.HasPrefix(name, "map"):
				return "into a mapping"
			case strings.HasPrefix(name, "seed.") || strings.HasPrefix(name, "*seed."):
				return "into " + what(strings.TrimPrefix(strings.TrimPrefix(name, "*"), "seed."))
			default:
				return "into a " + name
			}
		})
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}

// what names a schema type for people.
func what(goType string) string {
	switch goType {
	case "Document":
		return "the document"
	case "Hub":
		return "hub"
	case "Device":
		return "a device"
	case "Module":
		return "a module"
	case "Keys":
		return "keys"
	case "Thumbprints":
		return "thumbprints"
	default:
		return goType
	}
}

// knownFields lists the field names of a schema type.
func knownFields(goType string) string {
	var t reflect.Type
	switch goType {
	case "Document":
		t = reflect.TypeFor[Document]()
	case "Device":
		t = reflect.TypeFor[Device]()
	case "Module":
		t = reflect.TypeFor[Module]()
	case "Keys":
		t = reflect.TypeFor[Keys]()
	case "Thumbprints":
		t = reflect.TypeFor[Thumbprints]()
	default:
		return "none"
	}
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

func parseJSON(data []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	d := new(Document)
	if err := dec.Decode(d); err != nil {
		return nil, invalidDoc("%s", jsonProblem(data, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidDoc("%s: data after the JSON document", lineCol(data, dec.InputOffset()))
	}
	return d, nil
}

var jsonUnknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// jsonProblem locates a JSON decoding error in data.
func jsonProblem(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the byte that broke the syntax.
		return fmt.Sprintf("%s: %s", lineCol(data, se.Offset-1), se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("%s: %s must be %s, not %s", lineCol(data, te.Offset), field, jsonType(te.Type), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON document ends early"
	}
	if m := jsonUnknownField.FindStringSubmatch(err.Error()); m != nil {
		// The decoder does not say where; a key spelled so only once is there.
		if off := uniqueKeyOffset(data, m[1]); off >= 0 {
			return fmt.Sprintf("%s: unknown field %q", lineCol(data, off), m[1])
		}
		return fmt.Sprintf("unknown field %q", m[1])
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	default:
		return "a " + t.Kind().String()
	}
}

// uniqueKeyOffset returns where the object key name occurs in data if it
// occurs exactly once as a key, else -1.
func uniqueKeyOffset(data []byte, name string) int64 {
	quoted, err := json.Marshal(name)
	if err != nil {
		return -1
	}
	found := int64(-1)
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], quoted)
		if j < 0 {
			break
		}
		pos := i + j
		rest := bytes.TrimLeft(data[pos+len(quoted):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			if found >= 0 {
				return -1
			}
			found = int64(pos)
		}
		i = pos + len(quoted)
	}
	return found
}

// lineCol renders a byte offset as "line L, column C" (both from 1).
func lineCol(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
