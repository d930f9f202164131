package main

import (
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// topicProps decodes the property bag at the end of a devicebound topic.
func topicProps(t *testing.T, topic string) url.Values {
	t.Helper()
	const prefix = "devices/dev/messages/devicebound/"
	if !strings.HasPrefix(topic, prefix) {
		t.Fatalf("topic %s", topic)
	}
	v, err := url.ParseQuery(strings.TrimPrefix(topic, prefix))
	if err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
	return v
}

func TestC2DSendReachesTheDevice(t *testing.T) {
	e := startEmulator(t)
	key := createDevice(t, e, "dev")
	d := dialDevice(t, e, "dev", "", key)
	d.subscribe("devices/dev/messages/devicebound/#", nil)
	binFile := filepath.Join(t.TempDir(), "blob.bin")
	os.WriteFile(binFile, []byte{0, 1, 2, 0xff}, 0o644)
	expiry := time.Now().Add(time.Hour).UnixMilli()

	tests := []struct {
		name      string
		args      []string
		wantBody  string
		wantProps map[string]string // expected in the topic's property bag
	}{
		{"az's default body", nil, defaultC2DData, map[string]string{"$.ce": "utf-8"}},
		{"every option, long names", []string{"--data", `{"on":true}`, "--properties", "color=red;size=x l", "--ack", "full",
			"--message-id", "m-1", "--correlation-id", "c-1", "--user-id", "u-1", "--content-type", "application/json",
			"--content-encoding", "utf-8", "--expiry-time-utc", strconv.FormatInt(expiry, 10)},
			`{"on":true}`, map[string]string{"color": "red", "size": "x l", "iothub-ack": "full", "$.mid": "m-1", "$.cid": "c-1",
				"$.uid": "u-1", "$.ct": "application/json", "$.ce": "utf-8"}},
		{"short names", []string{"--da", "hi", "-p", "a=1", "--mid", "m-2", "--cid", "c-2", "--ct", "text/plain", "--ce", "utf-8", "--expiry", strconv.FormatInt(expiry, 10)},
			"hi", map[string]string{"a": "1", "$.mid": "m-2", "$.cid": "c-2", "$.ct": "text/plain"}},
		{"binary body from a file", []string{"--dfp", binFile, "--ct", "application/octet-stream"},
			"\x00\x01\x02\xff", map[string]string{"$.ct": "application/octet-stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var queued map[string]any
			hubCLI(t, e, append([]string{"c2d-message", "send", "-d", "dev"}, tt.args...)...).ok(t).json(t, &queued)
			if queued["deviceId"] != "dev" || queued["messageId"] == "" {
				t.Fatalf("queued %v", queued)
			}
			m := d.await()
			if string(m.Payload()) != tt.wantBody {
				t.Fatalf("payload %q, want %q", m.Payload(), tt.wantBody)
			}
			props := topicProps(t, m.Topic())
			for k, want := range tt.wantProps {
				if got := props.Get(k); got != want {
					t.Errorf("property %s = %q, want %q (topic %s)", k, got, want, m.Topic())
				}
			}
			if props.Get("$.mid") != queued["messageId"] {
				t.Errorf("delivered id %s, printed %v", props.Get("$.mid"), queued["messageId"])
			}
			if tt.name == "every option, long names" {
				if exp, _ := time.Parse(time.RFC3339Nano, queued["expiryTimeUtc"].(string)); exp.UnixMilli() != expiry {
					t.Errorf("expiry %v, want %d ms", queued["expiryTimeUtc"], expiry)
				}
			}
		})
	}
	// "c2d send" is the same command.
	hubCLI(t, e, "c2d", "send", "-d", "dev", "--data", "alias").ok(t)
	if m := d.await(); string(m.Payload()) != "alias" {
		t.Fatalf("c2d send delivered %q", m.Payload())
	}
	hubCLI(t, e, "c2d-message", "send", "-d", "ghost").failed(t, "DeviceNotFound")
	hubCLI(t, e, "c2d-message", "send", "-d", "dev", "--expiry", "1000").failed(t, "ArgumentInvalid")
	hubCLI(t, e, "c2d-message", "send", "-d", "dev", "-p", "$.mid=x").failed(t, "ArgumentInvalid")
}

func TestC2DPurge(t *testing.T) {
	e := startEmulator(t)
	createDevice(t, e, "dev")
	for i := range 3 {
		hubCLI(t, e, "c2d-message", "send", "-d", "dev", "--data", strconv.Itoa(i)).ok(t)
	}
	var twin map[string]any
	hubCLI(t, e, "device-twin", "show", "-d", "dev").ok(t).json(t, &twin)
	if twin["cloudToDeviceMessageCount"] != 3.0 {
		t.Fatalf("queued count %v", twin["cloudToDeviceMessageCount"])
	}
	for _, tt := range []struct {
		args []string
		want float64
	}{
		{[]string{"c2d-message", "purge", "-d", "dev"}, 3},
		{[]string{"c2d", "purge", "--device-id", "dev"}, 0},
	} {
		r := hubCLI(t, e, tt.args...).ok(t)
		var out map[string]any
		r.json(t, &out)
		if out["totalMessagesPurged"] != tt.want || out["deviceId"] != "dev" || out["moduleId"] != nil || len(out) != 3 {
			t.Fatalf("%v printed %s", tt.args, r.stdout)
		}
	}
	hubCLI(t, e, "c2d-message", "purge", "-d", "ghost").failed(t, "DeviceNotFound")
}

func TestParseProps(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", nil, false},
		{"   ", nil, false},
		{"a=1", map[string]string{"a": "1"}, false},
		{"a=1;b=two words", map[string]string{"a": "1", "b": "two words"}, false},
		{"a=1;;b=2;", map[string]string{"a": "1", "b": "2"}, false},
		{"url=http://x/?q=1", map[string]string{"url": "http://x/?q=1"}, false},
		{" k =v", map[string]string{"k": "v"}, false},
		{"empty=", map[string]string{"empty": ""}, false},
		{"novalue", nil, true},
		{"=v", nil, true},
		{"a=1;a=2", nil, true},
	}
	for _, tt := range tests {
		got, err := parseProps(tt.in)
		if (err != nil) != tt.wantErr || !maps.Equal(got, tt.want) {
			t.Errorf("parseProps(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseProps(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1;b=2", "a==b", ";;", "=", "k=v;k=w", " a = b ;c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		props, err := parseProps(s)
		if err != nil {
			return
		}
		// Every pair written back parses to the same properties.
		var pairs []string
		for k, v := range props {
			if k == "" || strings.ContainsAny(k, ";=") || strings.Contains(v, ";") || strings.TrimSpace(k) != k {
				t.Fatalf("parseProps(%q) gave key %q value %q", s, k, v)
			}
			pairs = append(pairs, k+"="+v)
		}
		again, err := parseProps(strings.Join(pairs, ";"))
		if err != nil || !maps.Equal(again, props) {
			t.Fatalf("round trip of %v: %v, %v", props, again, err)
		}
	})
}
