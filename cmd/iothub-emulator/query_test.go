package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestQueryFlags(t *testing.T) {
	e := startEmulator(t)
	for i := range 5 {
		createDevice(t, e, fmt.Sprintf("q%d", i))
	}
	hubCLI(t, e, "device-twin", "update", "-d", "q3", "--tags", `{"room":"101"}`).ok(t)
	tests := []struct {
		name string
		args []string
		want string // the deviceIds printed, joined by commas
	}{
		{"-q", []string{"-q", "SELECT deviceId FROM devices"}, "q0,q1,q2,q3,q4"},
		{"--query-command", []string{"--query-command", "SELECT deviceId FROM devices WHERE tags.room = '101'"}, "q3"},
		{"argument after flags", []string{"--top", "2", "SELECT deviceId FROM devices"}, "q0,q1"},
		{"--top across pages", []string{"-q", "SELECT deviceId FROM devices", "--top", "3", "--page-size", "2"}, "q0,q1,q2"},
		{"--top -1", []string{"-q", "SELECT deviceId FROM devices", "--top", "-1", "--page-size", "1"}, "q0,q1,q2,q3,q4"},
		{"--top above the rows", []string{"-q", "SELECT deviceId FROM devices", "--top", "50"}, "q0,q1,q2,q3,q4"},
		{"no rows", []string{"-q", "SELECT deviceId FROM devices WHERE deviceId = 'none'"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hubCLI(t, e, append([]string{"query"}, tt.args...)...).ok(t)
			var rows []map[string]string
			r.json(t, &rows)
			var ids []string
			for _, row := range rows {
				ids = append(ids, row["deviceId"])
			}
			if got := strings.Join(ids, ","); got != tt.want || rows == nil {
				t.Fatalf("got %q (%s), want %q", got, r.stdout, tt.want)
			}
		})
	}
}
