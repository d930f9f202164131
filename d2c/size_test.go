package d2c

import (
	"context"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// The size limit meters what the device sent: the properties the hub adds
// to every message (connection, auth, enqueued time, retain and Will
// markers) are left out, so exactly MaxMessageSize of device content fits.
func TestSizeMetersOnlyWhatTheDeviceSent(t *testing.T) {
	stamped := map[string]string{
		PropConnectionDeviceID:                 "d",
		PropConnectionModuleID:                 "m",
		PropEnqueuedTime:                       "2026-03-01T12:00:00.000Z",
		PropMessageSource:                      "Telemetry",
		"iothub-connection-auth-method":        `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`,
		"iothub-connection-auth-generation-id": "638000000000000000",
	}
	tests := []struct {
		name string
		m    Message
		want int
	}{
		{"body only", Message{Body: make([]byte, 10)}, 10},
		{"system values count, names do not", Message{SystemProperties: map[string]string{"message-id": "abc", "content-type": "application/json"}}, 3 + 16},
		{"application names and values count", Message{Properties: map[string]string{"k": "vv"}}, 3},
		{"what the hub adds does not count", Message{Body: make([]byte, 7), SystemProperties: stamped, Properties: map[string]string{"mqtt-retain": "true", "iothub-MessageType": "Will"}}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Size(); got != tt.want {
				t.Errorf("Size() = %d, want %d", got, tt.want)
			}
		})
	}

	l := openLog(t, Options{Store: openStore(t, tempDB(t))})
	for _, tt := range []struct {
		name    string
		extra   int
		wantErr bool
	}{
		{"exactly the limit, with the hub's properties", 0, false},
		{"one byte over", 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := msg("d", "", "")
			m.Body = make([]byte, MaxMessageSize-len("k")-len("v")+tt.extra)
			m.Properties = map[string]string{"k": "v", "mqtt-retain": "true"}
			m.SystemProperties = stamped
			_, err := l.Append(context.Background(), m)
			switch {
			case tt.wantErr && !errcode.Is(err, errcode.MessageTooLarge):
				t.Fatalf("Append: %v, want MessageTooLarge", err)
			case !tt.wantErr && err != nil:
				t.Fatalf("Append: %v", err)
			}
		})
	}
}
