package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// printJSON writes v as indented JSON, as Azure CLI prints its results.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printRaw re-indents a JSON document from the emulator, keeping its key order.
func printRaw(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the emulator answered with invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// withMember adds key: value at the end of a JSON object, keeping the
// order of the others (Azure CLI adds "hub" to an identity it shows).
func withMember(raw []byte, key string, value any) ([]byte, error) {
	obj := bytes.TrimSpace(raw)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' || !json.Valid(obj) {
		return nil, errors.New("the emulator answered with something other than a JSON object")
	}
	k, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	inner := bytes.TrimSpace(obj[1 : len(obj)-1])
	var out bytes.Buffer
	out.WriteByte('{')
	if len(inner) > 0 {
		out.Write(inner)
		out.WriteByte(',')
	}
	out.Write(k)
	out.WriteByte(':')
	out.Write(v)
	out.WriteByte('}')
	return out.Bytes(), nil
}

// maxJSONArg bounds a JSON argument read from a file.
const maxJSONArg = 4 << 20

// jsonArg reads an argument given, as in Azure CLI, either as the path of a
// file holding JSON or as the JSON itself. wantObject refuses anything but
// a JSON object.
func jsonArg(command, option, value string, wantObject bool) (json.RawMessage, error) {
	data := []byte(value)
	from := ""
	if st, err := os.Stat(value); err == nil && st.Mode().IsRegular() {
		if st.Size() > maxJSONArg {
			return nil, usagef(command, "%s: file %s is larger than %d bytes", option, value, maxJSONArg)
		}
		if data, err = os.ReadFile(value); err != nil {
			return nil, usagef(command, "%s: %v", option, err)
		}
		from = " in file " + value
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		hint := ""
		if from == "" && !looksLikeJSON(value) {
			hint = " (and no file of that name exists)"
		}
		return nil, usagef(command, "%s: not valid JSON%s%s: %v", option, from, hint, err)
	}
	if _, ok := v.(map[string]any); wantObject && !ok {
		return nil, usagef(command, "%s: must be a JSON object such as {\"key\": \"value\"}", option)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, usagef(command, "%s: %v", option, err)
	}
	return compact.Bytes(), nil
}

func looksLikeJSON(s string) bool {
	t := bytes.TrimSpace([]byte(s))
	return len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '"')
}
