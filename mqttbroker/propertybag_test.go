package mqttbroker

import (
	"maps"
	"strings"
	"testing"
)

func TestParsePropertyBag(t *testing.T) {
	tests := []struct {
		bag     string
		system  map[string]string
		app     map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, map[string]string{}, false},
		{
			"%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&k=v%20w",
			map[string]string{"mid": "m1", "ct": "application/json", "ce": "utf-8"},
			map[string]string{"k": "v w"}, false,
		},
		{"$.on=out1&$.cid=c", map[string]string{"on": "out1", "cid": "c"}, map[string]string{}, false},
		{"a=&b&c=1+2&&a%26b=x%3Dy", map[string]string{}, map[string]string{"a": "", "b": "", "c": "1+2", "a&b": "x=y"}, false},
		{"k=1&k=2", map[string]string{}, map[string]string{"k": "2"}, false},
		{"k=%zz", nil, nil, true},
		{"%zz=1", nil, nil, true},
		{"=v", nil, nil, true},
		{"%24.=v", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.bag, func(t *testing.T) {
			system, app, err := parsePropertyBag(tt.bag)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePropertyBag(%q) error = %v, want error %v", tt.bag, err, tt.wantErr)
			}
			if !maps.Equal(system, tt.system) || !maps.Equal(app, tt.app) {
				t.Errorf("parsePropertyBag(%q) = %v, %v; want %v, %v", tt.bag, system, app, tt.system, tt.app)
			}
		})
	}
}

func TestEncodePropertyBag(t *testing.T) {
	tests := []struct {
		name     string
		system   map[string]string
		app      map[string]string
		want     string
		wantFail bool
	}{
		{"nothing", nil, nil, "", false},
		{"empty maps", map[string]string{}, map[string]string{}, "", false},
		{
			"system properties in the hub's order, then the rest sorted",
			map[string]string{"exp": "2030-01-01T00:00:00Z", "ce": "utf-8", "ct": "application/json", "to": "/devices/d1/messages/deviceBound", "uid": "u", "cid": "c", "mid": "m", "zz": "1", "aa": "2"},
			nil,
			"%24.mid=m&%24.cid=c&%24.uid=u&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2030-01-01T00%3A00%3A00Z&%24.aa=2&%24.zz=1",
			false,
		},
		{
			"application properties sorted after system ones",
			map[string]string{"mid": "m1"},
			map[string]string{"propName": "PropValue", "iothub-ack": "full"},
			"%24.mid=m1&iothub-ack=full&propName=PropValue",
			false,
		},
		{"empty value keeps its '='", nil, map[string]string{"k": ""}, "k=", false},
		{"empty system value", map[string]string{"cid": ""}, nil, "%24.cid=", false},
		{
			"separators, spaces, plus and percent are escaped",
			nil,
			map[string]string{"a b": "x&y=z/w?#+%"},
			"a%20b=x%26y%3Dz%2Fw%3F%23%2B%25",
			false,
		},
		{"unicode is percent-encoded as UTF-8", nil, map[string]string{"ключ": "värde"}, "%D0%BA%D0%BB%D1%8E%D1%87=v%C3%A4rde", false},
		{"unreserved characters stay", nil, map[string]string{"A-z_0.9~": "-._~"}, "A-z_0.9~=-._~", false},
		{"a literal %24 in an application key is not a system property", nil, map[string]string{"%24.x": "1"}, "%2524.x=1", false},
		{"empty application key", nil, map[string]string{"": "v"}, "", true},
		{"empty system key", map[string]string{"": "v"}, nil, "", true},
		{"application key named like a system property", nil, map[string]string{"$.mid": "m"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodePropertyBag(tt.system, tt.app)
			if tt.wantFail {
				if err == nil {
					t.Fatalf("encodePropertyBag = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("encodePropertyBag: %v", err)
			}
			if got != tt.want {
				t.Errorf("encodePropertyBag = %q\nwant               %q", got, tt.want)
			}
			system, app, err := parsePropertyBag(got)
			if err != nil {
				t.Fatalf("decoding %q: %v", got, err)
			}
			if !maps.Equal(system, orEmpty(tt.system)) || !maps.Equal(app, orEmpty(tt.app)) {
				t.Errorf("round trip = %v %v, want %v %v", system, app, tt.system, tt.app)
			}
		})
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// specMap builds a map from "k\x00v\x00k\x00v...", so the fuzzer can make any map.
func specMap(spec string) map[string]string {
	m := map[string]string{}
	if spec == "" {
		return m
	}
	parts := strings.Split(spec, "\x00")
	for i := 0; i < len(parts); i += 2 {
		v := ""
		if i+1 < len(parts) {
			v = parts[i+1]
		}
		m[parts[i]] = v
	}
	return m
}

func FuzzPropertyBag(f *testing.F) {
	for _, seed := range []struct{ bag, system, app string }{
		{"", "", ""},
		{"%24.mid=m1&%24.ct=application%2Fjson&k=v%20w", "mid\x00m1\x00to\x00/devices/d/messages/deviceBound", "iothub-ack\x00full\x00propName\x00PropValue"},
		{"$.on=out1&a=&b&c=1+2&&a%26b=x%3Dy", "cid\x00", "k\x00"},
		{"k=%zz&%zz=1", "", "\x00v"},
		{"=v&%24.=v", "\x00v", "$.mid\x00m"},
		{"k=1&k=2", "ct\x00a b+c%d&e=f/g?h#i", "é\x00\xff\xfe"},
		// Bags as parseTopic hands them over, their closing '/' gone or not.
		{"%24.on=temperature", "on\x00temperature", ""},
		{"$.ct=application/json&k=v/", "on\x00a/", "k\x00v/"},
	} {
		f.Add(seed.bag, seed.system, seed.app)
	}
	f.Fuzz(func(t *testing.T, bag, systemSpec, appSpec string) {
		// Any bag: decoding never panics, and what it decodes re-encodes
		// to a bag that decodes the same.
		if system, app, err := parsePropertyBag(bag); err == nil {
			again, err := encodePropertyBag(system, app)
			if err != nil {
				t.Fatalf("decoded %q to %v %v, which does not encode: %v", bag, system, app, err)
			}
			s2, a2, err := parsePropertyBag(again)
			if err != nil || !maps.Equal(s2, system) || !maps.Equal(a2, app) {
				t.Fatalf("%q -> %v %v -> %q -> %v %v (%v)", bag, system, app, again, s2, a2, err)
			}
		}

		// Any maps: decode(encode(x)) == x, unless x cannot be encoded.
		system, app := specMap(systemSpec), specMap(appSpec)
		encoded, err := encodePropertyBag(system, app)
		if err != nil {
			_, emptySystem := system[""]
			_, emptyApp := app[""]
			systemLike := false
			for k := range app {
				systemLike = systemLike || strings.HasPrefix(k, "$.")
			}
			if !emptySystem && !emptyApp && !systemLike {
				t.Fatalf("encoding %v %v: %v", system, app, err)
			}
			return
		}
		if strings.ContainsAny(encoded, "/?#+ ") {
			t.Fatalf("bag %q has a byte that breaks the topic", encoded)
		}
		s2, a2, err := parsePropertyBag(encoded)
		if err != nil || !maps.Equal(s2, system) || !maps.Equal(a2, app) {
			t.Fatalf("%v %v -> %q -> %v %v (%v)", system, app, encoded, s2, a2, err)
		}
	})
}
