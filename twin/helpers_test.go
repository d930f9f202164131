package twin_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// at is a fixed test clock: second sec of a fixed minute, with a fraction
// that needs all 7 digits of TimeFormat.
func at(sec int) time.Time {
	return time.Date(2024, 5, 6, 7, 8, sec, 123456700, time.UTC)
}

// stampAt is at(sec) as IoT Hub writes it.
func stampAt(sec int) string { return at(sec).Format(twin.TimeFormat) }

func parse(t testing.TB, body string) twin.ServiceUpdate {
	t.Helper()
	u, err := twin.ParseServiceBody([]byte(body))
	if err != nil {
		t.Fatalf("ParseServiceBody(%s): %v", short(body), err)
	}
	return u
}

func patch(t testing.TB, tw *twin.Twin, body string, now time.Time) twin.DesiredChange {
	t.Helper()
	c, err := tw.Patch(parse(t, body), now)
	if err != nil {
		t.Fatalf("Patch(%s): %v", short(body), err)
	}
	return c
}

func replace(t testing.TB, tw *twin.Twin, body string, now time.Time) twin.DesiredChange {
	t.Helper()
	c, err := tw.Replace(parse(t, body), now)
	if err != nil {
		t.Fatalf("Replace(%s): %v", short(body), err)
	}
	return c
}

func report(t testing.TB, tw *twin.Twin, body string, now time.Time) int64 {
	t.Helper()
	v, err := tw.PatchReported([]byte(body), now)
	if err != nil {
		t.Fatalf("PatchReported(%s): %v", short(body), err)
	}
	return v
}

// snapshot is the twin's full storage form, for "nothing changed" checks.
func snapshot(t testing.TB, tw *twin.Twin) string {
	t.Helper()
	b, err := tw.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	return string(b)
}

// decode turns JSON text into the JSON-decoded Go types the views use.
func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test: %v\n%s", err, s)
	}
	return v
}

// assertJSON compares a value with expected JSON text, ignoring key order.
func assertJSON(t testing.TB, what string, got any, want string) {
	t.Helper()
	if b, ok := got.([]byte); ok {
		got = decode(t, string(b))
	} else {
		// Round-trip so that typed values (int64, nested maps) compare as JSON.
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("%s: marshal: %v", what, err)
		}
		got = decode(t, string(b))
	}
	if w := decode(t, want); !reflect.DeepEqual(got, w) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(w)
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

func assertInvalid(t testing.TB, err error, wantFragment string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want ArgumentInvalid containing %q, got success", wantFragment)
	}
	if !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Fatalf("want ArgumentInvalid, got %v", err)
	}
	if !strings.Contains(err.Error(), wantFragment) {
		t.Errorf("error %q does not mention %q", err, wantFragment)
	}
}

// content is a section view without its $-members.
func content(section map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range section {
		if !strings.HasPrefix(k, "$") {
			out[k] = v
		}
	}
	return out
}

// checkLimits is an independent oracle for every rule a stored twin must
// satisfy: key rules, depth, string length, integer range, no stored nulls,
// section sizes, and a $metadata node for every property.
func checkLimits(tw *twin.Twin) error {
	props := tw.Properties()
	sections := []struct {
		name  string
		doc   map[string]any
		limit int
	}{
		{"tags", tw.Tags(), 8192},
		{"desired", props["desired"].(map[string]any), 32768},
		{"reported", props["reported"].(map[string]any), 32768},
	}
	for _, s := range sections {
		c := content(s.doc)
		size, err := oracleObject(s.name, c, 0, false)
		if err != nil {
			return err
		}
		if size > s.limit {
			return fmt.Errorf("%s: size %d over %d", s.name, size, s.limit)
		}
		if s.name != "tags" {
			meta, ok := s.doc["$metadata"].(map[string]any)
			if !ok {
				return fmt.Errorf("%s: no $metadata", s.name)
			}
			if err := oracleMetadata(s.name, c, meta, s.name == "desired"); err != nil {
				return err
			}
		}
	}
	return nil
}

// inArray is set below an array, whose elements are stored verbatim, so an
// object there may keep null members.
func oracleObject(path string, m map[string]any, depth int, inArray bool) (int, error) {
	if depth > 10 {
		return 0, fmt.Errorf("%s: depth %d", path, depth)
	}
	size := 0
	for k, v := range m {
		if k == "" || len(k) > 1024 || strings.ContainsAny(k, ".$ ") {
			return 0, fmt.Errorf("%s: bad key %q", path, k)
		}
		for _, r := range k {
			if r < 0x20 || (r >= 0x80 && r < 0xA0) {
				return 0, fmt.Errorf("%s: control char in key %q", path, k)
			}
		}
		if v == nil && !inArray {
			return 0, fmt.Errorf("%s.%s: stored null", path, k)
		}
		n, err := oracleValue(path+"."+k, v, depth, inArray)
		if err != nil {
			return 0, err
		}
		size += utf8.RuneCountInString(k) + n
	}
	return size, nil
}

func oracleValue(path string, v any, depth int, inArray bool) (int, error) {
	switch x := v.(type) {
	case string:
		if len(x) > 4096 {
			return 0, fmt.Errorf("%s: string of %d bytes", path, len(x))
		}
		n := 0
		for _, r := range x {
			if !(r < 0x20 || (r >= 0x80 && r < 0xA0)) {
				n++
			}
		}
		return n, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || (x == math.Trunc(x) && (x > 1<<52-1 || x < -(1<<52))) {
			return 0, fmt.Errorf("%s: number %v", path, x)
		}
		return 8, nil
	case bool:
		return 4, nil
	case nil:
		return 0, nil
	case map[string]any:
		return oracleObject(path, x, depth+1, inArray)
	case []any:
		total := 0
		for i, e := range x {
			n, err := oracleValue(fmt.Sprintf("%s[%d]", path, i), e, depth, true)
			if err != nil {
				return 0, err
			}
			total += max(n, 1)
		}
		return total, nil
	default:
		return 0, fmt.Errorf("%s: type %T", path, v)
	}
}

func oracleMetadata(path string, c map[string]any, meta map[string]any, desired bool) error {
	ts, ok := meta["$lastUpdated"].(string)
	if !ok {
		return fmt.Errorf("%s: no $lastUpdated", path)
	}
	if _, err := time.Parse(twin.TimeFormat, ts); err != nil {
		return fmt.Errorf("%s: $lastUpdated %q: %v", path, ts, err)
	}
	if _, has := meta["$lastUpdatedVersion"]; has && !desired {
		return fmt.Errorf("%s: reported node with $lastUpdatedVersion", path)
	}
	for k, v := range c {
		m, ok := meta[k].(map[string]any)
		if !ok {
			return fmt.Errorf("%s.%s: no metadata", path, k)
		}
		child, _ := v.(map[string]any)
		if err := oracleMetadata(path+"."+k, child, m, desired); err != nil {
			return err
		}
	}
	return nil
}

func nan() float64 { return math.NaN() }

// short keeps test failure messages readable when bodies are kilobytes long.
func short(s string) string {
	if len(s) <= 200 {
		return s
	}
	return s[:200] + fmt.Sprintf("…(%d bytes)", len(s))
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
