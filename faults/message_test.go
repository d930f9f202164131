package faults

import (
	"testing"
	"time"
)

func TestParseMessageFault(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		want    MessageFault
		wantOK  bool
		wantErr bool
	}{
		{"ordinary message", map[string]string{"temp": "21"}, MessageFault{}, false, false},
		{"no properties", nil, MessageFault{}, false, false},
		{
			"C# style", map[string]string{PropOperationType: "KillTcp", PropCloseReason: "boom", PropDelay: "5", PropDuration: "5"},
			MessageFault{Type: KillTcp, CloseReason: "boom", Delay: 5 * time.Second, Duration: 5 * time.Second}, true, false,
		},
		{
			"Node style, no duration", map[string]string{PropOperationType: "ShutDownMqtt", PropCloseReason: " cleanly shutdowns MQTT connection ", PropDelay: "2"},
			MessageFault{Type: ShutDownMqtt, CloseReason: " cleanly shutdowns MQTT connection ", Delay: 2 * time.Second}, true, false,
		},
		{
			"C SDK's lower-case typo", map[string]string{PropOperationType: "KillAmqpc2dLink", PropDelay: "1"},
			MessageFault{Type: KillAmqpC2DLink, Delay: time.Second}, true, false,
		},
		{
			"decimals and spaces", map[string]string{PropOperationType: " invokethrottling ", PropDelay: "0.25", PropDuration: " 1.5 "},
			MessageFault{Type: InvokeThrottling, Delay: 250 * time.Millisecond, Duration: 1500 * time.Millisecond}, true, false,
		},
		{"empty delay is 0", map[string]string{PropOperationType: "KillTcp", PropDelay: ""}, MessageFault{Type: KillTcp}, true, false},
		{"unknown type", map[string]string{PropOperationType: "KillEverything"}, MessageFault{}, true, true},
		{"empty type", map[string]string{PropOperationType: ""}, MessageFault{}, true, true},
		{"negative delay", map[string]string{PropOperationType: "KillTcp", PropDelay: "-1"}, MessageFault{}, true, true},
		{"delay not a number", map[string]string{PropOperationType: "KillTcp", PropDelay: "soon"}, MessageFault{}, true, true},
		{"NaN duration", map[string]string{PropOperationType: "InvokeAuthError", PropDuration: "NaN"}, MessageFault{}, true, true},
		{"infinite duration", map[string]string{PropOperationType: "InvokeAuthError", PropDuration: "+Inf"}, MessageFault{}, true, true},
		{"duration too long", map[string]string{PropOperationType: "InvokeAuthError", PropDuration: "86401"}, MessageFault{}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseMessageFault(tt.props)
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("ok=%v err=%v, want ok=%v err=%v", ok, err, tt.wantOK, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEveryFaultTypeHasADecidedEffect(t *testing.T) {
	want := map[FaultType]Effect{
		KillTcp:                {Close: CloseAbort},
		KillAmqpConnection:     {Close: CloseAbort},
		KillAmqpSession:        {Close: CloseClean},
		KillAmqpCBSLinkReq:     {},
		KillAmqpCBSLinkResp:    {},
		KillAmqpD2CLink:        {},
		KillAmqpC2DLink:        {},
		KillAmqpTwinLinkReq:    {},
		KillAmqpTwinLinkResp:   {},
		KillAmqpMethodReqLink:  {},
		KillAmqpMethodRespLink: {},
		InvokeThrottling:       {Close: CloseClean, Window: KindThrottleDevice},
		InvokeMaxMessageQuota:  {Close: CloseClean, Window: KindQuotaExceeded},
		InvokeAuthError:        {Close: CloseClean, Window: KindRefuseConnects, ConnackCode: ConnackNotAuthorized},
		ShutDownAmqp:           {Close: CloseClean},
		ShutDownMqtt:           {Close: CloseClean},
	}
	if len(FaultTypes()) != len(want) {
		t.Fatalf("%d fault types, %d expectations", len(FaultTypes()), len(want))
	}
	for _, ft := range FaultTypes() {
		w, ok := want[ft]
		if !ok {
			t.Errorf("%s: no expectation", ft)
			continue
		}
		if got := ft.MQTTEffect(); got != w {
			t.Errorf("%s: effect %+v, want %+v", ft, got, w)
		}
	}
}

func FuzzParseMessageFault(f *testing.F) {
	f.Add("KillTcp", "boom", "5", "5")
	f.Add("InvokeAuthError", "", "0.5", "86400")
	f.Add("shutdownmqtt", "byebye", "", "")
	f.Add("Nope", "x", "-1", "1e308")
	f.Add("KillTcp", "", "0x10", "NaN")
	f.Fuzz(func(t *testing.T, typ, reason, delay, duration string) {
		m, ok, err := ParseMessageFault(map[string]string{
			PropOperationType: typ, PropCloseReason: reason, PropDelay: delay, PropDuration: duration,
		})
		if !ok {
			t.Fatal("a message with the type property must be recognised")
		}
		if err != nil {
			if m != (MessageFault{}) {
				t.Fatalf("error %v with a fault %+v", err, m)
			}
			return
		}
		if m.Delay < 0 || m.Delay > MaxDuration || m.Duration < 0 || m.Duration > MaxDuration {
			t.Fatalf("out of bounds: %+v", m)
		}
		if _, err := parseFaultType(string(m.Type)); err != nil {
			t.Fatalf("type %q not canonical: %v", m.Type, err)
		}
	})
}
