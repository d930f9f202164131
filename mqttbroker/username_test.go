package mqttbroker

import (
	"errors"
	"strings"
	"testing"
)

func TestParseClientID(t *testing.T) {
	tests := []struct {
		in             string
		device, module string
		ok             bool
	}{
		{"dev1", "dev1", "", true},
		{"dev1/mod1", "dev1", "mod1", true},
		{"d?=x", "d?=x", "", true},
		{"", "", "", false},
		{"/mod", "", "", false},
		{"dev/", "", "", false},
		{"a/b/c", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, m, err := parseClientID(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseClientID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if d != tt.device || m != tt.module {
				t.Errorf("parseClientID(%q) = %q, %q; want %q, %q", tt.in, d, m, tt.device, tt.module)
			}
		})
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		name     string
		username string
		clientID string
		want     usernameInfo
		wantErr  error // nil: success; errAny: any error
	}{
		{
			name:     "python device",
			username: "hub.example/dev1/?api-version=2019-10-01&DeviceClientType=azure-iot-device-iothub-py%2F2.14.0%28Linux%29",
			clientID: "dev1",
			want:     usernameInfo{Host: "hub.example", APIVersion: "2019-10-01"},
		},
		{
			name:     "node device with unencoded model id",
			username: "localhost:18884/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=azure-iot-device%2F1.18.4",
			clientID: "dev1",
			want:     usernameInfo{Host: "localhost:18884", APIVersion: "2021-04-12", ModelID: "dtmi:com:example:Thermostat;1"},
		},
		{
			name:     "percent-encoded model id",
			username: "h/dev1/?api-version=2020-09-30&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1",
			clientID: "dev1",
			want:     usernameInfo{Host: "h", APIVersion: "2020-09-30", ModelID: "dtmi:com:example:Thermostat;1"},
		},
		{
			name:     "module",
			username: "h/dev1/mod1/?api-version=2021-04-12",
			clientID: "dev1/mod1",
			want:     usernameInfo{Host: "h", APIVersion: "2021-04-12"},
		},
		{
			name:     "legacy form without question mark",
			username: "h/dev1/api-version=2016-11-14",
			clientID: "dev1",
			want:     usernameInfo{Host: "h", APIVersion: "2016-11-14"},
		},
		{
			name:     "legacy module form",
			username: "h/dev1/mod1/api-version=2016-11-14&DeviceClientType=x",
			clientID: "dev1/mod1",
			want:     usernameInfo{Host: "h", APIVersion: "2016-11-14"},
		},
		{name: "no query", username: "h/dev1", clientID: "dev1", want: usernameInfo{Host: "h"}},
		{name: "trailing slash", username: "h/dev1/", clientID: "dev1", want: usernameInfo{Host: "h"}},
		{name: "empty query", username: "h/dev1/?", clientID: "dev1", want: usernameInfo{Host: "h"}},
		{name: "question mark without slash", username: "h/dev1?api-version=1", clientID: "dev1", want: usernameInfo{Host: "h", APIVersion: "1"}},
		{
			name:     "unknown parameters, empty pairs and a bare key",
			username: "h/dev1/?&foo=bar&&flag&API-VERSION=2&auth-chain=a;b",
			clientID: "dev1",
			want:     usernameInfo{Host: "h", APIVersion: "2"},
		},
		{name: "first api-version wins", username: "h/dev1/?api-version=1&api-version=2", clientID: "dev1", want: usernameInfo{Host: "h", APIVersion: "1"}},
		{name: "plus is not a space", username: "h/dev1/?model-id=a+b", clientID: "dev1", want: usernameInfo{Host: "h", ModelID: "a+b"}},
		{name: "ids with ? and =", username: "h/d?x=1/?api-version=3", clientID: "d?x=1", want: usernameInfo{Host: "h", APIVersion: "3"}},

		{name: "empty", username: "", clientID: "dev1", wantErr: errBadUsername},
		{name: "no slash", username: "hub", clientID: "dev1", wantErr: errBadUsername},
		{name: "empty host", username: "/dev1/?api-version=1", clientID: "dev1", wantErr: errBadUsername},
		{name: "other device", username: "h/dev2/?api-version=1", clientID: "dev1", wantErr: errIDMismatch},
		{name: "longer device id", username: "h/dev12/?api-version=1", clientID: "dev1", wantErr: errIDMismatch},
		{name: "module not in client id", username: "h/dev1/mod1/?api-version=1", clientID: "dev1", wantErr: errIDMismatch},
		{name: "module missing from username", username: "h/dev1/?api-version=1", clientID: "dev1/mod1", wantErr: errIDMismatch},
		{name: "other module", username: "h/dev1/mod2/?api-version=1", clientID: "dev1/mod1", wantErr: errIDMismatch},
		{name: "bare extra segment", username: "h/dev1/mod1", clientID: "dev1", wantErr: errIDMismatch},
		{name: "empty client id", username: "h//?api-version=1", clientID: "", wantErr: errIDMismatch},
		{name: "bad escape in value", username: "h/dev1/?api-version=%zz", clientID: "dev1", wantErr: errAny},
		{name: "bad escape in key", username: "h/dev1/?%=1", clientID: "dev1", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUsername(tt.username, tt.clientID)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("parseUsername(%q, %q) error: %v", tt.username, tt.clientID, err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("parseUsername(%q, %q) error = %v, want %v", tt.username, tt.clientID, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseUsername(%q, %q) = %+v, want %+v", tt.username, tt.clientID, got, tt.want)
			}
		})
	}
}

// errAny in a table means "some error".
var errAny = errors.New("any error")

func FuzzParseUsername(f *testing.F) {
	seeds := []struct{ username, clientID string }{
		{"hub.example/dev1/?api-version=2019-10-01&DeviceClientType=py%2F2.14", "dev1"},
		{"h/dev1/mod1/?api-version=2021-04-12&model-id=dtmi:a:b;1", "dev1/mod1"},
		{"h/dev1/api-version=2016-11-14", "dev1"},
		{"h/dev1", "dev1"},
		{"h/dev1?x", "dev1"},
		{"h/dev2/?api-version=1", "dev1"},
		{"h/dev1/?api-version=%zz", "dev1"},
		{"", ""},
		{"/", "/"},
	}
	for _, s := range seeds {
		f.Add(s.username, s.clientID)
	}
	f.Fuzz(func(t *testing.T, username, clientID string) {
		info, err := parseUsername(username, clientID)
		if err != nil {
			if info != (usernameInfo{}) {
				t.Fatalf("error %v with non-empty result %+v", err, info)
			}
			return
		}
		// Success means the username is "{host}/{clientId}" plus a query.
		if info.Host == "" || strings.Contains(info.Host, "/") {
			t.Fatalf("host %q from %q", info.Host, username)
		}
		if !strings.HasPrefix(username, info.Host+"/"+clientID) {
			t.Fatalf("accepted %q for client id %q", username, clientID)
		}
	})
}
