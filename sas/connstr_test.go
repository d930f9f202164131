package sas

import "testing"

func TestConnectionStrings(t *testing.T) {
	tests := []struct {
		in      string
		want    ConnectionString
		wantErr bool
	}{
		{in: "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5PT0=",
			want: ConnectionString{HostName: "localhost", SharedAccessKeyName: "iothubowner", SharedAccessKey: "a2V5PT0="}},
		{in: "HostName=h;DeviceId=d1;ModuleId=m;SharedAccessKey=abc=;",
			want: ConnectionString{HostName: "h", DeviceID: "d1", ModuleID: "m", SharedAccessKey: "abc="}},
		{in: "DeviceId=d1;SharedAccessKey=abc", wantErr: true},
		{in: "HostName=h;Port=8883", wantErr: true},
		{in: "HostName=h;junk", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseConnectionString(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("ParseConnectionString(%q) error = %v", tc.in, err)
		}
		if tc.wantErr {
			continue
		}
		if got != tc.want {
			t.Fatalf("ParseConnectionString(%q) = %+v", tc.in, got)
		}
		again, err := ParseConnectionString(got.String())
		if err != nil || again != got {
			t.Fatalf("String round trip: %q -> %+v, %v", got.String(), again, err)
		}
	}
}
