package seed

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameScan checks that what scanDocument reads, parseJSON reads the same.
func sameScan(t *testing.T, data []byte) {
	t.Helper()
	got, ok := scanDocument(data)
	if !ok {
		return // parseJSON reads it, or explains what is wrong
	}
	want, err := parseJSON(data)
	if err != nil {
		t.Fatalf("scanDocument read what parseJSON refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanDocument and parseJSON differ:\n%#v\n%#v\n%s", got, want, data)
	}
}

func scanCorpus(t testing.TB) (fast, other [][]byte) {
	for _, name := range []string{"full.json", "full.marshal.json", "empty.marshal.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		fast = append(fast, b)
	}
	fast = append(fast,
		[]byte(`{"devices":[{"id":"d1","tags":{"a":null,"b":{"c":null,"d":[1,null,{"e":null}]}},"reported":{"s":"\u00e9","n":-1.5e-3}}]}`),
		[]byte(`{"devices":[]}`), []byte(`{}`), []byte(`{"hub":{}}`),
		[]byte(`{"devices":[{"id":"d1","desired":{"a":null,"a":1}}]}`),
		[]byte(`{"devices":[{"id":"d1","modules":[{"id":"m1","tags":{"x":"y"},"reported":{"r":{"s":1}}}]},{"id":"d2","desired":{"d":true}}]}`),
	)
	other = [][]byte{
		[]byte(`{"Devices":[]}`), []byte(`{"devices":[{"ID":"d1"}]}`),
		[]byte(`{"devices":[{"id":"d1","tags":{"a":1,"a":2}}]}`),
		[]byte(`{"devices":[{"id":"d1"},{"id":"d2","modules":[{"id":"m1","reported":{"a":1,"a":2}}]}]}`),
		[]byte(`{"devices":[{"id":"d1","desired":[1]}]}`),
		[]byte(`{"devices":[{"id":"d1","tags":null}]}`), []byte(`{"devices":null}`),
		[]byte(`{"devices":[{"id":"d1","tags":{"n":1e400}}]}`),
		[]byte(`{"devices":[{"id":"d1","x":1}]}`), []byte(`{"hub":{"x":1}}`),
		[]byte(`{"devices":[{"id":"d1"}]} x`), []byte(`{"devices":[{"id":"d1"}]}` + "\x00"),
		[]byte(`{"x509CAs":[]}`), []byte(`{"devices":[{"id":"d1","edge":"true"}]}`),
		[]byte(`{"devices":[{"id":"d1","keys":{"primary":1}}]}`),
		[]byte(`{"devices":[{"id":"d1"},]}`), []byte(`[]`), []byte(`{"devices":[{"id":"d1","t\u0061gs":{}}]}`),
	}
	return fast, other
}

func TestScanDocumentMatchesParseJSON(t *testing.T) {
	fast, other := scanCorpus(t)
	for _, b := range fast {
		if _, ok := scanDocument(b); !ok {
			t.Errorf("not read by scanDocument:\n%s", b)
		}
		sameScan(t, b)
	}
	for _, b := range other {
		sameScan(t, b)
	}
	// The fast path feeds the same checks: a bad device is still refused.
	if _, err := Parse([]byte(`{"devices":[{"id":"bad id"}]}`), "json"); err == nil || !strings.Contains(err.Error(), "devices[0]") {
		t.Fatalf("Parse of a bad id: %v", err)
	}
}

func FuzzScanDocument(f *testing.F) {
	fast, other := scanCorpus(f)
	for _, b := range append(fast, other...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameScan(t, data) })
}
