package iothubtest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzLookup checks that Lookup never panics and that a dotted path is the
// composition of its parts: Lookup(doc, "a.b") is Lookup(Lookup(doc, "a"), "b").
func FuzzLookup(f *testing.F) {
	twin := `{"deviceId":"d1","properties":{"reported":{"firmware":"1.2.0","battery":{"level":80},"$version":2}},"tags":{"":{"x":1}}}`
	for _, seed := range []struct{ doc, path string }{
		{twin, "properties.reported.firmware"},
		{twin, "properties.reported.battery.level"},
		{twin, "properties.reported.firmware.deeper"},
		{twin, "properties..reported"},
		{twin, "tags..x"},
		{twin, ""},
		{twin, "."},
		{`{"a":null}`, "a"},
		{`{"a":[{"b":1}]}`, "a.0.b"},
		{`{}`, "a.b.c"},
		{`null`, "a"},
	} {
		f.Add(seed.doc, seed.path)
	}
	f.Fuzz(func(t *testing.T, doc, path string) {
		var m map[string]any
		if json.Unmarshal([]byte(doc), &m) != nil {
			return
		}
		got := Lookup(m, path)
		head, rest, dotted := strings.Cut(path, ".")
		if !dotted {
			if want := m[head]; !reflect.DeepEqual(got, want) {
				t.Fatalf("Lookup(%s, %q) = %v, want %v", doc, path, got, want)
			}
			return
		}
		inner, _ := Lookup(m, head).(map[string]any)
		var want any
		if inner != nil {
			want = Lookup(inner, rest)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Lookup(%s, %q) = %v, but step by step %v", doc, path, got, want)
		}
	})
}

// FuzzEnvLogLevel checks that the log variable's parser never panics, that
// the documented "off" values turn logs off and every other value on.
func FuzzEnvLogLevel(f *testing.F) {
	for _, s := range []string{"", "0", "1", "true", "off", "debug", "INFO", "warn+2", "error", "loud", " 1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, on := envLogLevel(s)
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "0", "false", "off":
			if on {
				t.Fatalf("%q turned logs on", s)
			}
		default:
			if !on {
				t.Fatalf("%q left logs off", s)
			}
		}
	})
}
