package main

import (
	"bytes"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// sampleMessage is a message as the hub logs it, with fixed times.
func sampleMessage(body string) d2c.Message {
	return d2c.Message{
		SequenceNumber: 42,
		EnqueuedTime:   time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC),
		DeviceID:       "thermostat",
		SystemProperties: map[string]string{
			"message-id":                           "m-1",
			"correlation-id":                       "c-1",
			"content-type":                         "application/json",
			"content-encoding":                     "utf-8",
			"iothub-connection-device-id":          "thermostat",
			"iothub-connection-auth-method":        `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`,
			"iothub-connection-auth-generation-id": "638500000000000000",
			"iothub-enqueuedtime":                  "2024-05-01T12:00:00.123Z",
			"iothub-message-source":                "Telemetry",
			"iothub-creation-time-utc":             "2024-05-01T11:59:59.000Z",
		},
		Properties: map[string]string{"alert": "false", "unit": "celsius"},
		Body:       []byte(body),
	}
}

func TestFormatEventGolden(t *testing.T) {
	module := sampleMessage("plain text")
	module.ModuleID = "sensor"
	module.SystemProperties["iothub-connection-module-id"] = "sensor"
	module.SystemProperties["dt-dataschema"] = "dtmi:com:example:Thermostat;1"
	module.SystemProperties["dt-subject"] = "thermostat1"
	bare := d2c.Message{SequenceNumber: 1, EnqueuedTime: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), DeviceID: "d", Body: []byte{0xff, 0x00}}
	tests := []struct {
		name  string
		msg   d2c.Message
		props []string
	}{
		{"json-body", sampleMessage(`{ "temperature": 21.5,
  "humidity": [40, 41] }`), nil},
		{"all", sampleMessage(`{"temperature":21.5}`), []string{"all"}},
		{"sys", sampleMessage(`{"temperature":21.5}`), []string{"sys"}},
		{"app", sampleMessage(`"a JSON string"`), []string{"app"}},
		{"anno", sampleMessage(`42`), []string{"anno"}},
		{"module-text-body", module, []string{"sys", "anno"}},
		{"binary-body-no-properties", bare, []string{"all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p propertySet
			for _, v := range tt.props {
				if !p.add(v) {
					t.Fatalf("add(%q) refused", v)
				}
			}
			line, err := formatEvent(tt.msg, p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsRune(line, '\n') || !json.Valid(line) {
				t.Fatalf("not one line of JSON: %s", line)
			}
			testkit.Golden(t, "events/"+tt.name+".json", append(line, '\n'))
		})
	}
}

func TestPropertySetAdd(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   propertySet
	}{
		{[]string{"sys"}, propertySet{sys: true}},
		{[]string{"APP"}, propertySet{app: true}},
		{[]string{"anno", "sys"}, propertySet{sys: true, anno: true}},
		{[]string{"all"}, propertySet{sys: true, app: true, anno: true}},
	} {
		var p propertySet
		for _, v := range tt.values {
			p.add(v)
		}
		if p != tt.want {
			t.Errorf("%v: %+v", tt.values, p)
		}
	}
	var p propertySet
	if p.add("everything") || p.any() {
		t.Fatal("an unknown value was taken")
	}
}

func FuzzFormatEvent(f *testing.F) {
	f.Add("dev", "", `{"a":1}`, "k", "v", "message-id", "m", false)
	f.Add("d\xff", "m", "not json", "", "", "iothub-enqueuedtime", "garbage", true)
	f.Add("d", "", "\x00\x01", "a\nb", "c\"d", "$.custom", "x", true)
	f.Fuzz(func(t *testing.T, deviceID, moduleID, body, appKey, appValue, sysKey, sysValue string, all bool) {
		m := d2c.Message{
			SequenceNumber: 7, EnqueuedTime: time.Unix(1700000000, 0).UTC(), DeviceID: deviceID, ModuleID: moduleID,
			SystemProperties: map[string]string{sysKey: sysValue}, Properties: map[string]string{appKey: appValue}, Body: []byte(body),
		}
		var p propertySet
		if all {
			p.add("all")
		}
		line, err := formatEvent(m, p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(line, '\n') || !json.Valid(line) {
			t.Fatalf("not one line of JSON: %q", line)
		}
		var ev struct {
			Event struct {
				Origin      string          `json:"origin"`
				Payload     json.RawMessage `json:"payload"`
				Properties  *struct{ Application map[string]string }
				Annotations map[string]any `json:"annotations"`
			} `json:"event"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(deviceID) && ev.Event.Origin != deviceID {
			t.Fatalf("origin %q, want %q", ev.Event.Origin, deviceID)
		}
		if json.Valid([]byte(body)) {
			var want bytes.Buffer
			json.Compact(&want, []byte(body))
			if string(ev.Event.Payload) != want.String() {
				t.Fatalf("payload %s, want %s", ev.Event.Payload, want.String())
			}
		} else if utf8.ValidString(body) {
			var s string
			if json.Unmarshal(ev.Event.Payload, &s) != nil || s != body {
				t.Fatalf("payload %s, want the text %q", ev.Event.Payload, body)
			}
		}
		if all != (ev.Event.Properties != nil) || all != (ev.Event.Annotations != nil) {
			t.Fatalf("properties/annotations present without -p, or missing with it: %s", line)
		}
		if all && ev.Event.Annotations["x-opt-sequence-number"] != 7.0 {
			t.Fatalf("annotations %v", ev.Event.Annotations)
		}
		if all && utf8.ValidString(appKey) && utf8.ValidString(appValue) && ev.Event.Properties.Application[appKey] != appValue &&
			!strings.ContainsRune(appKey+appValue, utf8.RuneError) {
			t.Fatalf("application properties %v", ev.Event.Properties.Application)
		}
	})
}
