package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/internal/hubtest"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/seed"
)

// The seed documents of package seed's tests.
var seedTestdata = filepath.Join("..", "seed", "testdata")

// newSeedFixture serves the API with seeding, on a hub whose store is
// checked for consistency when the test ends.
func newSeedFixture(t *testing.T) *fixture {
	t.Helper()
	h := hubtest.Open(t, hub.Options{Store: storetest.Temp(t)})
	srv := httptest.NewServer(New(h, Options{Seed: seed.NewSeeder(h)}))
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, hub: h, token: ownerToken(t, h)}
}

// sortedDocument is d with devices and modules in id order, as Export
// writes them.
func sortedDocument(d *seed.Document) *seed.Document {
	slices.SortFunc(d.Devices, func(a, b seed.Device) int { return strings.Compare(a.ID, b.ID) })
	for _, dev := range d.Devices {
		slices.SortFunc(dev.Modules, func(a, b seed.Module) int { return strings.Compare(a.ID, b.ID) })
	}
	return d
}

// sameDocument fails the test with both documents as JSON when they differ.
func sameDocument(t *testing.T, got, want *seed.Document) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("documents differ\ngot:  %s\nwant: %s", g, w)
	}
}

// wantErrorContaining is wantError that also checks the message holds
// each of contains.
func wantErrorContaining(t *testing.T, r response, status int, code string, contains ...string) {
	t.Helper()
	wantError(t, r, status, code)
	var e struct{ Message string }
	json.Unmarshal([]byte(r.body), &e)
	for _, c := range contains {
		if !strings.Contains(e.Message, c) {
			t.Errorf("message %q does not contain %q", e.Message, c)
		}
	}
}

func TestSeedImportExport(t *testing.T) {
	yamlText, err := os.ReadFile(filepath.Join(seedTestdata, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jsonText, err := os.ReadFile(filepath.Join(seedTestdata, "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := seed.Parse(yamlText, seed.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	want := sortedDocument(full)
	tests := []struct {
		name, contentType string
		body              []byte
	}{
		{"yaml", "application/yaml", yamlText},
		{"x-yaml", "application/x-yaml; charset=utf-8", yamlText},
		{"text yaml", "text/yaml", yamlText},
		{"json", "application/json; charset=utf-8", jsonText},
		{"sniffed json", "text/plain", jsonText},
		{"sniffed yaml", "", yamlText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSeedFixture(t)
			var headers []string
			if tc.contentType != "" {
				headers = []string{"Content-Type", tc.contentType}
			}
			r := f.do(http.MethodPost, "/emulator/import", string(tc.body), headers...)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("import: %d %s", r.status, r.body)
			}
			var res seed.Result
			if err := json.Unmarshal([]byte(r.body), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Created) != 5 || len(res.Updated) != 0 || len(res.Unchanged) != 0 {
				t.Fatalf("result %s", r.body)
			}
			if ids := f.hub.DeviceIDs(); len(ids) != 4 {
				t.Fatalf("devices %v", ids)
			}
			// Again: nothing to do, said with empty lists rather than nulls.
			r = f.do(http.MethodPost, "/emulator/import", string(tc.body), headers...)
			if r.status != http.StatusOK || !strings.Contains(r.body, `"created":[],"updated":[]`) {
				t.Fatalf("reimport: %d %s", r.status, r.body)
			}
			for _, ex := range []struct{ query, format, contentType string }{
				{"", "yaml", "application/yaml"},
				{"?format=yaml", "yaml", "application/yaml"},
				{"?format=JSON", "json", "application/json"},
			} {
				r := f.do(http.MethodGet, "/emulator/export"+ex.query, "")
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), ex.contentType) {
					t.Fatalf("export%s: %d %s %s", ex.query, r.status, r.header.Get("Content-Type"), r.body)
				}
				d, err := seed.Parse([]byte(r.body), ex.format)
				if err != nil {
					t.Fatalf("export%s does not parse as %s: %v", ex.query, ex.format, err)
				}
				sameDocument(t, d, want)
			}
		})
	}
}

func TestSeedErrors(t *testing.T) {
	f := newSeedFixture(t)
	yamlText, err := os.ReadFile(filepath.Join(seedTestdata, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, contentType string
		body                            []byte
		status                          int
		code                            string
		contains                        []string
	}{
		{"bad export format", "GET", "/emulator/export?format=xml", "", nil, 400, "ArgumentInvalid", []string{`not "xml"`}},
		{"unknown field", "POST", "/emulator/import", "application/yaml", []byte("devices:\n  - id: a\n    tag: {}\n"), 400, "ArgumentInvalid", []string{"line 3", `unknown field "tag"`}},
		{"yaml sent as json", "POST", "/emulator/import", "application/json", yamlText, 400, "ArgumentInvalid", []string{"line 1, column 1"}},
		{"bad key", "POST", "/emulator/import", "", []byte("devices:\n  - id: a\n  - id: b\n    keys: {primary: abc}\n"), 400, "ArgumentInvalid", []string{"line 3", "not base64"}},
		{"empty body", "POST", "/emulator/import", "application/yaml", nil, 400, "ArgumentInvalid", []string{"empty"}},
		{"too large", "POST", "/emulator/import", "application/yaml", make([]byte, seed.MaxDocumentSize+1), 413, "MessageTooLarge", nil},
		{"import is a POST", "GET", "/emulator/import", "", nil, 404, "IotHubNotFound", nil},
		{"export is a GET", "POST", "/emulator/export", "application/yaml", yamlText, 404, "IotHubNotFound", nil},
		{"unknown path", "GET", "/emulator/snapshot", "", nil, 404, "IotHubNotFound", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.contentType != "" {
				headers = []string{"Content-Type", tc.contentType}
			}
			wantErrorContaining(t, f.do(tc.method, tc.path, string(tc.body), headers...), tc.status, tc.code, tc.contains...)
		})
	}
	// None of it wrote anything.
	if ids := f.hub.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("refused requests created %v", ids)
	}
}

// Export holds every key, so it needs RegistryRead; import needs
// RegistryWrite, and so does any other write under /emulator.
func TestSeedPermissions(t *testing.T) {
	f := newSeedFixture(t)
	for _, tt := range []struct {
		policy, method, path string
		want                 int
	}{
		{"registryRead", "GET", "/emulator/export", 200},
		{"service", "GET", "/emulator/export", 401},
		{"registryRead", "POST", "/emulator/import", 401},
		{"registryReadWrite", "POST", "/emulator/import", 200},
		{"registryRead", "GET", "/emulator/snapshot", 404},
		{"registryRead", "POST", "/emulator/snapshot", 401},
		{"registryReadWrite", "POST", "/emulator/snapshot", 404},
	} {
		f.token = policyToken(t, f.hub, tt.policy)
		if r := f.do(tt.method, tt.path, `{"devices":[]}`, "Content-Type", "application/json"); r.status != tt.want {
			t.Errorf("%s %s as %s: %d, want %d (%s)", tt.method, tt.path, tt.policy, r.status, tt.want, r.body)
		}
	}
}

// An imported document comes back from a JSON export with its keys.
func TestSeedImportThenExportJSON(t *testing.T) {
	f := newSeedFixture(t)
	r := f.do(http.MethodPost, "/emulator/import", `{"devices":[{"id":"d1","tags":{"a":1}}]}`, "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r = f.do(http.MethodGet, "/emulator/export?format=json", "")
	var d seed.Document
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 1 || !reflect.DeepEqual(d.Devices[0].Tags, seed.Properties{"a": 1.0}) || d.Devices[0].Keys == nil {
		t.Fatalf("export %s", r.body)
	}
}

// chunkedReader hands out its data a few bytes a read, the last read
// with io.EOF, as a network body may.
type chunkedReader struct {
	data []byte
	step int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[:min(r.step, len(r.data))])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func TestReadSized(t *testing.T) {
	body := []byte(`{"devices":[{"id":"d1"},{"id":"d2"}]}`)
	errBroken := errors.New("connection reset")
	tests := []struct {
		name    string
		r       io.Reader
		length  int64
		limit   int64
		want    string
		wantErr error
		// wantCap is the buffer's capacity when the length decides it (0:
		// not checked).
		wantCap int
	}{
		{"stated length", bytes.NewReader(body), int64(len(body)), 1 << 20, string(body), nil, len(body) + 1},
		{"small reads", &chunkedReader{data: body, step: 3}, int64(len(body)), 1 << 20, string(body), nil, len(body) + 1},
		{"no length", bytes.NewReader(body), -1, 1 << 20, string(body), nil, 0},
		{"length over the limit", bytes.NewReader(body), 1 << 30, 1 << 20, string(body), nil, 0},
		{"longer than stated", bytes.NewReader(body), 5, 1 << 20, string(body), nil, 0},
		{"shorter than stated", bytes.NewReader(body[:5]), int64(len(body)), 1 << 20, string(body[:5]), nil, len(body) + 1},
		{"read error", io.MultiReader(bytes.NewReader(body[:4]), iotest.ErrReader(errBroken)), int64(len(body)), 1 << 20, string(body[:4]), errBroken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSized(tt.r, tt.length, tt.limit)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Fatalf("readSized = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if tt.wantCap != 0 && cap(got) != tt.wantCap {
				t.Fatalf("the body took a buffer of %d bytes, want %d", cap(got), tt.wantCap)
			}
		})
	}
}
