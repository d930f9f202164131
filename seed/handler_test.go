package seed

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/iothub-emulator/iothub-emulator/hub"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, srv *httptest.Server, method, path, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// wantError checks an IoT Hub REST error: status, header and the message
// the SDKs parse.
func wantError(t *testing.T, r response, status int, code string, contains ...string) {
	t.Helper()
	if r.status != status || r.header.Get("iothub-errorcode") != code {
		t.Fatalf("status %d, iothub-errorcode %q; want %d %s (body %s)", r.status, r.header.Get("iothub-errorcode"), status, code, r.body)
	}
	var e struct{ Message, ExceptionMessage string }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if !strings.HasPrefix(e.Message, "ErrorCode:"+code+";") || e.ExceptionMessage == "" {
		t.Fatalf("error body %s", r.body)
	}
	for _, c := range contains {
		if !strings.Contains(e.Message, c) {
			t.Errorf("message %q does not contain %q", e.Message, c)
		}
	}
}

// newServer serves the handler mounted under /emulator, as the API does.
func newServer(t *testing.T) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h := newHub(t)
	r := chi.NewRouter()
	r.Mount("/emulator", NewHandler(h))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, h
}

func TestHandlerImportExport(t *testing.T) {
	yamlText, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jsonText, err := os.ReadFile(filepath.Join("testdata", "full.json"))
	if err != nil {
		t.Fatal(err)
	}
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
			srv, hh := newServer(t)
			r := do(t, srv, http.MethodPost, "/emulator/import", tc.contentType, tc.body)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("import: %d %s", r.status, r.body)
			}
			var res Result
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Created) != 5 || len(res.Updated) != 0 || len(res.Unchanged) != 0 {
				t.Fatalf("result %s", r.body)
			}
			if ids := hh.DeviceIDs(); len(ids) != 4 {
				t.Fatalf("devices %v", ids)
			}
			// Again: nothing to do, said with empty lists rather than nulls.
			r = do(t, srv, http.MethodPost, "/emulator/import", tc.contentType, tc.body)
			if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"created":[],"updated":[]`)) {
				t.Fatalf("reimport: %d %s", r.status, r.body)
			}
			for _, ex := range []struct{ query, format, contentType string }{
				{"", "yaml", "application/yaml"},
				{"?format=yaml", "yaml", "application/yaml"},
				{"?format=JSON", "json", "application/json"},
			} {
				r := do(t, srv, http.MethodGet, "/emulator/export"+ex.query, "", nil)
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), ex.contentType) {
					t.Fatalf("export%s: %d %s %s", ex.query, r.status, r.header.Get("Content-Type"), r.body)
				}
				d, err := Parse(r.body, ex.format)
				if err != nil {
					t.Fatalf("export%s does not parse as %s: %v", ex.query, ex.format, err)
				}
				sameDocument(t, d, sortDevices(fullDocument()))
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	srv, hh := newServer(t)
	yamlText, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
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
		{"too large", "POST", "/emulator/import", "application/yaml", make([]byte, MaxDocumentSize+1), 413, "MessageTooLarge", nil},
		{"import is a POST", "GET", "/emulator/import", "", nil, 404, "IotHubNotFound", nil},
		{"export is a GET", "POST", "/emulator/export", "application/yaml", yamlText, 404, "IotHubNotFound", nil},
		{"unknown path", "GET", "/emulator/snapshot", "", nil, 404, "IotHubNotFound", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, srv, tc.method, tc.path, tc.contentType, tc.body), tc.status, tc.code, tc.contains...)
		})
	}
	// None of it wrote anything.
	if ids := hh.DeviceIDs(); len(ids) != 0 {
		t.Fatalf("refused requests created %v", ids)
	}
}

func TestHandlerAlone(t *testing.T) {
	h := newHub(t)
	srv := httptest.NewServer(NewHandler(h))
	t.Cleanup(srv.Close)
	r := do(t, srv, http.MethodPost, "/import", "application/json", []byte(`{"devices":[{"id":"d1","tags":{"a":1}}]}`))
	if r.status != http.StatusOK {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r = do(t, srv, http.MethodGet, "/export?format=json", "", nil)
	var d Document
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 1 || !reflect.DeepEqual(d.Devices[0].Tags, Properties{"a": 1.0}) || d.Devices[0].Keys == nil {
		t.Fatalf("export %s", r.body)
	}
}
