package main

import (
	"context"
	"encoding/json"
	"github.com/iothub-emulator/iothub-emulator/internal/testkit"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
)

// monitorRun is a monitor-events command running in the background.
type monitorRun struct {
	out, errOut syncBuffer
	done        chan int
	cancel      context.CancelFunc
}

// startMonitor runs monitor-events against e and waits until its stream is
// open, so every message published afterwards reaches it.
func startMonitor(t *testing.T, e *emulator.Emulator, args ...string) *monitorRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	m := &monitorRun{done: make(chan int, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		m.done <- runContext(ctx, append(append([]string{"monitor-events"}, args...), "--endpoint", endpointOf(e)), &m.out, &m.errOut)
	}()
	testkit.EventuallyWithin(t, wait, "the monitor to start", func() bool {
		select {
		case code := <-m.done:
			t.Fatalf("monitor exited %d early: %s", code, m.errOut.String())
		default:
		}
		return strings.Contains(m.errOut.String(), "Starting event monitor")
	})
	return m
}

// wait returns the monitor's exit status and the events it printed.
func (m *monitorRun) wait(t *testing.T) (int, []azEvent) {
	t.Helper()
	select {
	case code := <-m.done:
		return code, parseEvents(t, m.out.String())
	case <-time.After(2 * wait):
		t.Fatalf("monitor still running; printed %q", m.out.String())
		return 0, nil
	}
}

// azEvent is one printed event, decoded.
type azEvent struct {
	Event struct {
		Origin     string          `json:"origin"`
		Module     string          `json:"module"`
		Interface  *string         `json:"interface"`
		Component  *string         `json:"component"`
		Payload    json.RawMessage `json:"payload"`
		Properties *struct {
			System      map[string]string `json:"system"`
			Application map[string]string `json:"application"`
		} `json:"properties"`
		Annotations map[string]any `json:"annotations"`
	} `json:"event"`
}

// parseEvents decodes stdout: one JSON document per line.
func parseEvents(t *testing.T, out string) []azEvent {
	t.Helper()
	var evs []azEvent
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var ev azEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestMonitorEventsFollowsNewTelemetry(t *testing.T) {
	e := startEmulator(t)
	dev := dialDevice(t, e, "dev", "", createDevice(t, e, "dev"))
	other := dialDevice(t, e, "other", "", createDevice(t, e, "other"))
	dev.publish("devices/dev/messages/events/", "before the monitor")

	m := startMonitor(t, e, "-d", "dev", "-p", "all", "--message-count", "2", "--timeout", "20")
	other.publish("devices/other/messages/events/", `{"not":"shown"}`)
	dev.publish("devices/dev/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&unit=celsius", `{"temperature":21.5}`)
	dev.publish("devices/dev/messages/events/", "plain text")
	code, evs := m.wait(t)
	if code != 0 || len(evs) != 2 {
		t.Fatalf("exit %d, events %s, stderr %s", code, m.out.String(), m.errOut.String())
	}
	first := evs[0].Event
	if first.Origin != "dev" || first.Module != "" || first.Interface == nil || first.Component == nil ||
		string(first.Payload) != `{"temperature":21.5}` ||
		first.Properties.System["message_id"] != "m1" || first.Properties.System["content_type"] != "application/json" ||
		first.Properties.Application["unit"] != "celsius" ||
		first.Annotations["iothub-connection-device-id"] != "dev" || first.Annotations["iothub-message-source"] != "Telemetry" {
		t.Fatalf("first event: %s", m.out.String())
	}
	if _, ok := first.Annotations["iothub-enqueuedtime"].(float64); !ok {
		t.Fatalf("iothub-enqueuedtime is not epoch milliseconds: %v", first.Annotations)
	}
	if string(evs[1].Event.Payload) != `"plain text"` {
		t.Fatalf("second payload %s", evs[1].Event.Payload)
	}
	if strings.Count(m.out.String(), "\n") != 2 {
		t.Fatalf("not one line per event:\n%s", m.out.String())
	}
}

func TestMonitorEventsPropertiesFlag(t *testing.T) {
	e := startEmulator(t)
	dev := dialDevice(t, e, "dev", "", createDevice(t, e, "dev"))
	dev.publish("devices/dev/messages/events/%24.mid=m1&k=v", `[1,2]`)
	tests := []struct {
		name                 string
		args                 []string
		sys, app, anno, prop bool
	}{
		{"none", nil, false, false, false, false},
		{"bare -p means all", []string{"-p"}, true, true, true, true},
		{"-p sys", []string{"-p", "sys"}, true, false, false, true},
		{"az's list form", []string{"--props", "sys", "anno"}, true, false, true, true},
		{"comma form", []string{"--properties=app,anno"}, false, true, true, true},
		{"anno alone keeps an empty properties, as az", []string{"-p", "anno"}, false, false, true, true},
		{"-p all", []string{"-p", "all"}, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"monitor-events", "--from-sequence-number", "0", "--mc", "1"}, tt.args...)
			r := hubCLI(t, e, args...).ok(t)
			evs := parseEvents(t, r.stdout)
			if len(evs) != 1 {
				t.Fatalf("printed %q", r.stdout)
			}
			ev := evs[0].Event
			if string(ev.Payload) != "[1,2]" {
				t.Fatalf("payload %s", ev.Payload)
			}
			if (ev.Properties != nil) != tt.prop || (ev.Annotations != nil) != tt.anno {
				t.Fatalf("printed %s", r.stdout)
			}
			if ev.Properties != nil && ((ev.Properties.System != nil) != tt.sys || (ev.Properties.Application != nil) != tt.app) {
				t.Fatalf("printed %s", r.stdout)
			}
			if tt.sys && ev.Properties.System["message_id"] != "m1" || tt.app && ev.Properties.Application["k"] != "v" {
				t.Fatalf("printed %s", r.stdout)
			}
		})
	}
}

func TestMonitorEventsFiltersAndStart(t *testing.T) {
	e := startEmulator(t)
	var mod map[string]any
	keys := map[string]string{}
	for _, id := range []string{"sensor-1", "sensor-2", "pump"} {
		keys[id] = createDevice(t, e, id)
	}
	hubCLI(t, e, "module-identity", "create", "-d", "pump", "-m", "valve").ok(t).json(t, &mod)
	valve := dialDevice(t, e, "pump", "valve", mod["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"].(string))
	var later int64 // when the second half was sent, in epoch milliseconds
	for _, id := range []string{"sensor-1", "sensor-2", "pump"} {
		if id == "pump" {
			time.Sleep(20 * time.Millisecond) // enqueued times have millisecond precision
			later = time.Now().UnixMilli()
		}
		d := dialDevice(t, e, id, "", keys[id])
		d.publish("devices/"+id+"/messages/events/", id)
	}
	valve.publish("devices/pump/modules/valve/messages/events/", "valve")

	tests := []struct {
		name string
		args []string
		want []string // payloads, in order
	}{
		{"everything from the start", []string{"--from-sequence-number", "0", "--mc", "4"}, []string{"sensor-1", "sensor-2", "pump", "valve"}},
		{"from a sequence number", []string{"--from-sequence-number", "3", "--mc", "2"}, []string{"pump", "valve"}},
		{"from an enqueued time", []string{"--enqueued-time", strconv.FormatInt(later, 10), "--mc", "2"}, []string{"pump", "valve"}},
		{"one device", []string{"-d", "sensor-2", "--from-sequence-number", "0", "--mc", "1"}, []string{"sensor-2"}},
		{"wildcard device", []string{"-d", "sensor-*", "--from-sequence-number", "0", "--mc", "2"}, []string{"sensor-1", "sensor-2"}},
		{"one module", []string{"-d", "pump", "-m", "valve", "--from-sequence-number", "0", "--mc", "1"}, []string{"valve"}},
		{"wildcard module", []string{"-m", "v?lve", "--from-sequence-number", "0", "--mc", "1"}, []string{"valve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hubCLI(t, e, append([]string{"monitor-events", "--timeout", "10"}, tt.args...)...).ok(t)
			var got []string
			for _, ev := range parseEvents(t, r.stdout) {
				var s string
				json.Unmarshal(ev.Event.Payload, &s)
				got = append(got, s)
				if s == "valve" && (ev.Event.Module != "valve" || ev.Event.Origin != "pump") {
					t.Fatalf("module event %+v", ev.Event)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMonitorEventsStops(t *testing.T) {
	e := startEmulator(t)

	// --timeout: seconds without a message.
	start := time.Now()
	r := hubCLI(t, e, "monitor-events", "--timeout", "1").ok(t)
	if took := time.Since(start); took < time.Second || took > 5*time.Second || r.stdout != "" || !strings.Contains(r.stderr, "No message for 1s") {
		t.Fatalf("after %s: stdout %q stderr %q", took, r.stdout, r.stderr)
	}

	// An interrupt (the context ending) is a normal end.
	m := startMonitor(t, e, "--timeout", "0")
	m.cancel()
	if code, _ := m.wait(t); code != 0 {
		t.Fatalf("interrupted monitor exit %d: %s", code, m.errOut.String())
	}

	// The emulator going away is an error, in one line.
	e2 := startEmulator(t)
	m2 := startMonitor(t, e2)
	e2.Close()
	code, _ := m2.wait(t)
	if msg := strings.TrimSpace(m2.errOut.String()); code != 1 || !strings.HasSuffix(msg, "iothub-emulator: the emulator ended the event stream (was it stopped?)") {
		t.Fatalf("exit %d, stderr %q", code, m2.errOut.String())
	}

	// A refused stream request is an error in the emulator's words.
	hubCLI(t, e, "monitor-events", "--hub", "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=d3Jvbmcga2V5").failed(t, "IotHubUnauthorized")
}
