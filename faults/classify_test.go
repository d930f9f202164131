package faults

import (
	"net/http/httptest"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, target string
		want           Operation // "" = not classified
	}{
		{"GET", "/devices?api-version=2021-04-12", RegistryOperations},
		{"GET", "/devices/?top=10", RegistryOperations},
		{"POST", "/devices", RegistryOperations}, // bulk
		{"GET", "/devices/dev1", RegistryOperations},
		{"PUT", "/devices/dev%2F1", RegistryOperations}, // an encoded '/' stays in the id
		{"DELETE", "/devices/dev1", RegistryOperations},
		{"GET", "/devices/dev1/modules", RegistryOperations},
		{"GET", "/devices/dev1/modules/", RegistryOperations},
		{"PUT", "/devices/dev1/modules/m1", RegistryOperations},
		{"POST", "/devices/query", Queries},
		{"GET", "/devices/query", RegistryOperations}, // a device named "query"
		{"DELETE", "/devices/dev1/commands", ""},      // purge
		{"GET", "/twins/dev1", TwinReads},
		{"GET", "/twins/dev1/modules/m1", TwinReads},
		{"PATCH", "/twins/dev1", TwinUpdates},
		{"PUT", "/twins/dev1/modules/m1", TwinUpdates},
		{"DELETE", "/twins/dev1", ""},
		{"POST", "/twins/dev1/methods", DirectMethods},
		{"POST", "/twins/dev1/modules/m1/methods", DirectMethods},
		{"GET", "/twins/dev1/methods", ""},
		{"GET", "/twins", ""},
		{"POST", "/emulator/devices/dev1/messages/devicebound", C2DSends},
		{"GET", "/emulator/devices/dev1/messages/devicebound", ""},
		{"GET", "/emulator/messages/events", ""},
		{"GET", "/emulator/faults", ""},
		{"GET", "/jobs/v2/query", JobsOperations},
		{"GET", "/configurations/?top=10", Configurations},
		{"GET", "/statistics/devices", ""},
		{"GET", "/healthz", ""},
		{"GET", "/$iothub/websocket", ""},
		{"GET", "/", ""},
	}
	for _, tt := range tests {
		op, ok := Classify(httptest.NewRequest(tt.method, tt.target, nil))
		if op != tt.want || ok != (tt.want != "") {
			t.Errorf("%s %s = %q %v, want %q", tt.method, tt.target, op, ok, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, p := range []string{"/devices/a/modules/b", "/twins/x/methods", "//", "/emulator/devices/a/messages/devicebound", "/twins/a/modules/b/methods/"} {
		f.Add("POST", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawPath = ""
		op, ok := Classify(r)
		if ok != (op != "") {
			t.Fatalf("ok=%v with op %q", ok, op)
		}
		if ok {
			if _, err := ParseOperation(string(op)); err != nil {
				t.Fatalf("unknown class %q", op)
			}
		}
	})
}
