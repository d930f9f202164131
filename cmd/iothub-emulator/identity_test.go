package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// Fixed base64 keys of 32 bytes, for identities created with --pk/--sk.
const (
	testPrimaryKey   = "c2VjcmV0LXByaW1hcnkta2V5LWZvci10ZXN0cy0wMDE="
	testSecondaryKey = "c2VjcmV0LXNlY29uZGFyeS1rZXktZm9yLXRlc3RzLTE="
)

func TestDeviceIdentityCreate(t *testing.T) {
	e := startEmulator(t)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, d map[string]any)
	}{
		{"defaults", []string{"-d", "plain"}, func(t *testing.T, d map[string]any) {
			auth := d["authentication"].(map[string]any)
			key := auth["symmetricKey"].(map[string]any)
			if d["status"] != "enabled" || auth["type"] != "sas" || key["primaryKey"] == "" || key["secondaryKey"] == "" ||
				d["capabilities"].(map[string]any)["iotEdge"] != false {
				t.Fatalf("device %v", d)
			}
		}},
		{"long names and fixed keys", []string{"--device-id", "keyed", "--primary-key", testPrimaryKey, "--secondary-key", testSecondaryKey}, func(t *testing.T, d map[string]any) {
			key := d["authentication"].(map[string]any)["symmetricKey"].(map[string]any)
			if key["primaryKey"] != testPrimaryKey || key["secondaryKey"] != testSecondaryKey {
				t.Fatalf("keys %v", key)
			}
		}},
		{"short names", []string{"-d", "edge", "--ee", "--sta", "disabled", "--star", "maintenance", "--pk", testPrimaryKey}, func(t *testing.T, d map[string]any) {
			key := d["authentication"].(map[string]any)["symmetricKey"].(map[string]any)
			if d["status"] != "disabled" || d["statusReason"] != "maintenance" || d["capabilities"].(map[string]any)["iotEdge"] != true ||
				key["primaryKey"] != testPrimaryKey || key["secondaryKey"] == "" {
				t.Fatalf("device %v", d)
			}
		}},
		{"single-dash long names", []string{"-device-id", "dash", "-status", "Disabled"}, func(t *testing.T, d map[string]any) {
			if d["deviceId"] != "dash" || d["status"] != "disabled" {
				t.Fatalf("device %v", d)
			}
		}},
		{"x509 thumbprint", []string{"-d", "cert", "--am", "x509_thumbprint", "--ptp", "ABC123"}, func(t *testing.T, d map[string]any) {
			auth := d["authentication"].(map[string]any)
			key, _ := auth["symmetricKey"].(map[string]any)
			if auth["type"] != "selfSigned" || auth["x509Thumbprint"].(map[string]any)["primaryThumbprint"] != "ABC123" ||
				key == nil || key["primaryKey"] != nil || key["secondaryKey"] != nil {
				t.Fatalf("auth %v", auth)
			}
		}},
		{"x509 CA", []string{"-d", "ca", "--auth-method", "x509_ca"}, func(t *testing.T, d map[string]any) {
			if auth := d["authentication"].(map[string]any); auth["type"] != "certificateAuthority" {
				t.Fatalf("auth %v", auth)
			}
		}},
		{"id with characters to escape", []string{"-d", "a#b?c%d"}, func(t *testing.T, d map[string]any) {
			if d["deviceId"] != "a#b?c%d" {
				t.Fatalf("device %v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hubCLI(t, e, append([]string{"device-identity", "create"}, tt.args...)...).ok(t)
			var d map[string]any
			r.json(t, &d)
			tt.check(t, d)
			if !strings.HasPrefix(r.stdout, "{\n  \"deviceId\"") {
				t.Fatalf("not indented in the emulator's key order:\n%s", r.stdout)
			}
		})
	}
	hubCLI(t, e, "device-identity", "create", "-d", "plain").failed(t, "DeviceAlreadyExists")
	hubCLI(t, e, "device-identity", "create", "-d", "bad", "--pk", "not base64!").failed(t, "ArgumentInvalid")
	hubCLI(t, e, "device-identity", "create", "-d", "bad/id").failed(t, "ArgumentInvalid")
	if r := hubCLI(t, e, "device-identity", "show", "-d", "bad"); r.code != 1 {
		t.Fatal("a refused create left a device behind")
	}
}

func TestDeviceIdentityShowListDelete(t *testing.T) {
	e := startEmulator(t)
	for _, id := range []string{"d1", "d2", "d3"} {
		createDevice(t, e, id)
	}
	createDevice(t, e, "gateway", "--ee")

	var shown map[string]any
	r := hubCLI(t, e, "device-identity", "show", "-d", "d2").ok(t)
	r.json(t, &shown)
	if shown["deviceId"] != "d2" || shown["hub"] != "127.0.0.1" || !strings.HasSuffix(strings.TrimSpace(r.stdout), "\"hub\": \"127.0.0.1\"\n}") {
		t.Fatalf("show:\n%s", r.stdout)
	}

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"device-identity", "list"}, []string{"d1", "d2", "d3", "gateway"}},
		{[]string{"device-twin", "list"}, []string{"d1", "d2", "d3", "gateway"}},
		{[]string{"device-identity", "list", "--top", "2"}, []string{"d1", "d2"}},
		{[]string{"device-identity", "list", "--top", "-1"}, []string{"d1", "d2", "d3", "gateway"}},
		{[]string{"device-identity", "list", "--ee"}, []string{"gateway"}},
	}
	for _, tt := range tests {
		var twins []map[string]any
		hubCLI(t, e, tt.args...).ok(t).json(t, &twins)
		var got []string
		for _, tw := range twins {
			if _, ok := tw["properties"]; !ok {
				t.Fatalf("%v: rows are not twins: %v", tt.args, tw)
			}
			got = append(got, tw["deviceId"].(string))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%v: got %v, want %v", tt.args, got, tt.want)
		}
	}

	// A stale etag refuses the delete; the right one and none delete.
	hubCLI(t, e, "device-identity", "delete", "-d", "d1", "--etag", "stale").failed(t, "PreconditionFailed")
	if r := hubCLI(t, e, "device-identity", "delete", "-d", "d1", "-e", shown["etag"].(string)); r.code != 1 {
		t.Fatal("d1 deleted with d2's etag")
	}
	var d1 map[string]any
	hubCLI(t, e, "device-identity", "show", "-d", "d1").ok(t).json(t, &d1)
	if r := hubCLI(t, e, "device-identity", "delete", "-d", "d1", "-e", d1["etag"].(string)).ok(t); r.stdout != "" {
		t.Fatalf("delete printed %q", r.stdout)
	}
	hubCLI(t, e, "device-identity", "delete", "-d", "d2").ok(t)
	hubCLI(t, e, "device-identity", "show", "-d", "d1").failed(t, "DeviceNotFound")
	hubCLI(t, e, "device-identity", "delete", "-d", "d2").failed(t, "DeviceNotFound")
}

func TestConnectionStrings(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev", "--pk", testPrimaryKey, "--sk", testSecondaryKey)
	hubCLI(t, e, "module-identity", "create", "-d", "dev", "-m", "mod", "--pk", testSecondaryKey, "--sk", testPrimaryKey).ok(t)
	createDevice(t, e, "certdev", "--am", "x509_ca")

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"device-identity", "connection-string", "show", "-d", "dev"}, "HostName=127.0.0.1;DeviceId=dev;SharedAccessKey=" + testPrimaryKey},
		{[]string{"device-identity", "connection-string", "show", "-d", "dev", "--kt", "secondary"}, "HostName=127.0.0.1;DeviceId=dev;SharedAccessKey=" + testSecondaryKey},
		{[]string{"module-identity", "connection-string", "show", "-d", "dev", "-m", "mod"}, "HostName=127.0.0.1;DeviceId=dev;ModuleId=mod;SharedAccessKey=" + testSecondaryKey},
		{[]string{"device-identity", "connection-string", "show", "-d", "certdev"}, "HostName=127.0.0.1;DeviceId=certdev;x509=true"},
	}
	for _, tt := range tests {
		r := hubCLI(t, e, tt.args...).ok(t)
		var out map[string]string
		r.json(t, &out)
		if len(out) != 1 || out["connectionString"] != tt.want {
			t.Errorf("%v: %s", tt.args, r.stdout)
		}
	}
	// The printed key is the device's: the hub accepts a token signed with it.
	var out map[string]string
	hubCLI(t, e, "device-identity", "connection-string", "show", "-d", "dev").ok(t).json(t, &out)
	cs, err := sas.ParseConnectionString(out["connectionString"])
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := sas.NewToken("localhost/devices/dev", cs.SharedAccessKey, "", time.Now().Add(time.Hour))
	if _, err := e.Hub().AuthenticateDevice("dev", "", tok); err != nil {
		t.Fatalf("printed key does not authenticate: %v", err)
	}
	hubCLI(t, e, "device-identity", "connection-string", "show", "-d", "ghost").failed(t, "DeviceNotFound")
	hubCLI(t, e, "module-identity", "connection-string", "show", "-d", "dev", "-m", "ghost").failed(t, "ModuleNotFound")
}

func TestModuleIdentity(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")
	var m map[string]any
	hubCLI(t, e, "module-identity", "create", "-d", "dev", "-m", "m1").ok(t).json(t, &m)
	if m["moduleId"] != "m1" || m["deviceId"] != "dev" || m["authentication"].(map[string]any)["type"] != "sas" {
		t.Fatalf("created %v", m)
	}
	hubCLI(t, e, "module-identity", "create", "--device-id", "dev", "--module-id", "m2", "--am", "x509_thumbprint", "--ptp", "AA", "--stp", "BB").ok(t)
	hubCLI(t, e, "module-identity", "create", "-d", "dev", "-m", "m1").failed(t, "ModuleAlreadyExistsOnDevice")
	hubCLI(t, e, "module-identity", "create", "-d", "ghost", "-m", "m1").failed(t, "DeviceNotFound")

	var shown map[string]any
	hubCLI(t, e, "module-identity", "show", "-d", "dev", "-m", "m2").ok(t).json(t, &shown)
	if shown["moduleId"] != "m2" || shown["hub"] != "127.0.0.1" ||
		shown["authentication"].(map[string]any)["x509Thumbprint"].(map[string]any)["secondaryThumbprint"] != "BB" {
		t.Fatalf("shown %v", shown)
	}

	list := func(args ...string) []string {
		var mods []map[string]any
		hubCLI(t, e, append([]string{"module-identity", "list", "-d", "dev"}, args...)...).ok(t).json(t, &mods)
		var ids []string
		for _, m := range mods {
			ids = append(ids, m["moduleId"].(string))
		}
		return ids
	}
	if got := list(); strings.Join(got, ",") != "m1,m2" {
		t.Fatalf("list = %v", got)
	}
	if got := list("--top", "1"); len(got) != 1 {
		t.Fatalf("list --top 1 = %v", got)
	}

	hubCLI(t, e, "module-identity", "delete", "-d", "dev", "-m", "m1", "-e", "stale").failed(t, "PreconditionFailed")
	hubCLI(t, e, "module-identity", "delete", "-d", "dev", "-m", "m1").ok(t)
	hubCLI(t, e, "module-identity", "show", "-d", "dev", "-m", "m1").failed(t, "ModuleNotFound")
	if got := list(); strings.Join(got, ",") != "m2" {
		t.Fatalf("after delete list = %v", got)
	}
	var empty []json.RawMessage
	createDevice(t, e, "lonely")
	r := hubCLI(t, e, "module-identity", "list", "-d", "lonely").ok(t)
	r.json(t, &empty)
	if empty == nil || len(empty) != 0 {
		t.Fatalf("no modules printed %q, want []", r.stdout)
	}
	hubCLI(t, e, "module-identity", "list", "-d", "ghost").failed(t, "DeviceNotFound")
}

func TestDeviceCreateAcceptsFlagsAnywhere(t *testing.T) {
	e := startEmulator(t)
	for _, args := range [][]string{
		{"device", "create", "before", "--endpoint", endpointOf(e)},
		{"device", "create", "--endpoint", endpointOf(e), "after"},
		{"device", "create", "--endpoint", endpointOf(e), "--pk", testPrimaryKey, "keyed"},
	} {
		r := runCLI(t, args...).ok(t)
		cs, err := sas.ParseConnectionString(strings.TrimSpace(r.stdout))
		if err != nil || cs.DeviceID == "" || cs.SharedAccessKey == "" || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("%v printed %q", args, r.stdout)
		}
		if cs.DeviceID == "keyed" && cs.SharedAccessKey != testPrimaryKey {
			t.Fatalf("--pk ignored: %q", r.stdout)
		}
	}
}
