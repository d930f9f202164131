package mqttbroker

import (
	"strings"
	"testing"
)

func TestParseDPSTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  dpsRequest
		ok    bool
	}{
		{"$dps/registrations/PUT/iotdps-register/?$rid=1", dpsRequest{register: true, rid: "1"}, true},
		{"$dps/registrations/PUT/iotdps-register/?$rid=8f0c-11", dpsRequest{register: true, rid: "8f0c-11"}, true},
		{"$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc.def", dpsRequest{rid: "2", operationID: "4.abc.def"}, true},
		{"$dps/registrations/GET/iotdps-get-operationstatus/?operationId=op&$rid=3", dpsRequest{rid: "3", operationID: "op"}, true},
		{"$dps/registrations/PUT/iotdps-register/", dpsRequest{}, false},                   // no query
		{"$dps/registrations/PUT/iotdps-register/?x=1", dpsRequest{}, false},               // no $rid
		{"$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2", dpsRequest{}, false}, // no operation id
		{"$dps/registrations/GET/iotdps-get-operationstatus/?$rid=%zz&operationId=o", dpsRequest{}, false},
		{"$dps/registrations/res/200/?$rid=1", dpsRequest{}, false}, // a response topic
		{"$iothub/twin/GET/?$rid=1", dpsRequest{}, false},
		{"devices/d/messages/events/", dpsRequest{}, false},
	}
	for _, tc := range tests {
		got, err := parseDPSTopic(tc.topic)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseDPSTopic(%q) = %+v, %v; want %+v ok=%v", tc.topic, got, err, tc.want, tc.ok)
		}
		if tc.ok != dpsTopicAllowed(tc.topic) && tc.ok {
			t.Errorf("dpsTopicAllowed(%q) = false for a request topic", tc.topic)
		}
	}
}

func TestDPSResponseTopic(t *testing.T) {
	// The SDKs split the topic on '$' and '&': $rid must come first and
	// be the only '$' key, and every pair must have '='.
	for _, tc := range []struct {
		status int
		rid    string
		want   string
	}{
		{202, "1", "$dps/registrations/res/202/?$rid=1&retry-after=0"},
		{200, "ab-12", "$dps/registrations/res/200/?$rid=ab-12"},
		{401, "x", "$dps/registrations/res/401/?$rid=x"},
		{429, "x", "$dps/registrations/res/429/?$rid=x&retry-after=0"},
		{200, "a&b=c", "$dps/registrations/res/200/?$rid=a%26b%3Dc"},
	} {
		if got := dpsResponseTopic(tc.status, tc.rid); got != tc.want {
			t.Errorf("dpsResponseTopic(%d, %q) = %q, want %q", tc.status, tc.rid, got, tc.want)
		}
	}
}

func TestParseDPSUsername(t *testing.T) {
	for _, tc := range []struct {
		username, clientID, scope, regID string
		ok                               bool
	}{
		{"0ne00000000/registrations/dev1/api-version=2019-03-31&ClientVersion=x%2F1", "dev1", "0ne00000000", "dev1", true},
		{"0ne00000000/registrations/dev1/api-version=2019-03-31", "dev2", "", "", false},
		{"localhost/dev1/?api-version=2021-04-12", "dev1", "", "", false}, // a hub username
		{"/registrations/dev1/api-version=1", "dev1", "", "", false},
	} {
		scope, regID, ok := parseDPSUsername(tc.username, tc.clientID)
		if ok != tc.ok || scope != tc.scope || regID != tc.regID {
			t.Errorf("parseDPSUsername(%q, %q) = %q, %q, %v", tc.username, tc.clientID, scope, regID, ok)
		}
	}
}

func FuzzParseDPSTopic(f *testing.F) {
	for _, s := range []string{
		"$dps/registrations/PUT/iotdps-register/?$rid=1",
		"$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=x",
		"$dps/registrations/PUT/iotdps-register/?$rid=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		r, err := parseDPSTopic(topic)
		if err != nil {
			return
		}
		if r.rid == "" || !dpsTopicAllowed(topic) || (!r.register && r.operationID == "") {
			t.Fatalf("accepted %q as %+v", topic, r)
		}
		if !strings.HasPrefix(topic, "$dps/registrations/") {
			t.Fatalf("accepted a topic outside $dps: %q", topic)
		}
	})
}
