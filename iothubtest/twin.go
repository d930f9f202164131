package iothubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// twinPoll is how often WaitTwin looks at the twin again.
const twinPoll = 10 * time.Millisecond

// Twin returns a device twin as `GET /twins/{id}` does: identity fields,
// tags, and properties.desired and properties.reported with $metadata and
// $version. It is the caller's copy, decoded as encoding/json decodes into
// any (numbers are float64). Lookup reads nested fields.
func (h *Hub) Twin(t testing.TB, deviceID string) map[string]any {
	t.Helper()
	tw, err := h.twin(deviceID, "")
	if err != nil {
		t.Fatalf("iothubtest: twin of device %q: %v", deviceID, err)
	}
	return tw
}

// ModuleTwin returns a module twin, as Twin does for a device.
func (h *Hub) ModuleTwin(t testing.TB, deviceID, moduleID string) map[string]any {
	t.Helper()
	tw, err := h.twin(deviceID, moduleID)
	if err != nil {
		t.Fatalf("iothubtest: twin of module %q on device %q: %v", moduleID, deviceID, err)
	}
	return tw
}

func (h *Hub) twin(deviceID, moduleID string) (map[string]any, error) {
	view, err := h.emu.Hub().GetTwin(context.Background(), deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	// The hub's view is shared; a JSON round trip gives the caller its own.
	b, err := json.Marshal(view)
	if err != nil {
		return nil, fmt.Errorf("encode twin: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode twin: %w", err)
	}
	return out, nil
}

// UpdateDesired merges patch into the device twin's desired properties, as a
// back end's `PATCH /twins/{id}` does (a nil value deletes a property). A
// connected device subscribed to desired-property updates is notified.
func (h *Hub) UpdateDesired(t testing.TB, deviceID string, patch map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"properties": map[string]any{"desired": patch}})
	if err != nil {
		t.Fatalf("iothubtest: update desired properties of device %q: %v", deviceID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if _, err := h.emu.Hub().UpdateTwin(ctx, deviceID, "", body, "", false); err != nil {
		t.Fatalf("iothubtest: update desired properties of device %q: %v", deviceID, err)
	}
}

// SetReported merges patch into the device twin's reported properties as if
// the device had sent it over MQTT (a nil value deletes a property), for
// tests of back-end code that reads what devices report.
func (h *Hub) SetReported(t testing.TB, deviceID string, patch map[string]any) {
	t.Helper()
	body, err := json.Marshal(patch)
	if err != nil {
		t.Fatalf("iothubtest: set reported properties of device %q: %v", deviceID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if _, err := h.emu.Hub().PatchReported(ctx, deviceID, "", body); err != nil {
		t.Fatalf("iothubtest: set reported properties of device %q: %v", deviceID, err)
	}
}

// WaitTwin waits until cond holds for the device twin (as Twin returns it)
// and returns that twin; it fails the test, showing the last twin seen, if
// cond does not hold within timeout (DefaultTimeout if not positive). Use it
// when device code reports in the background.
func (h *Hub) WaitTwin(t testing.TB, deviceID string, timeout time.Duration, cond func(twin map[string]any) bool) map[string]any {
	t.Helper()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	for {
		tw, err := h.twin(deviceID, "")
		if err != nil {
			t.Fatalf("iothubtest: wait for the twin of device %q: %v", deviceID, err)
		}
		if cond(tw) {
			return tw
		}
		if !time.Now().Before(deadline) {
			last, _ := json.Marshal(tw)
			t.Fatalf("iothubtest: the twin of device %q did not reach the expected state within %v; last seen: %s", deviceID, timeout, last)
		}
		time.Sleep(twinPoll)
	}
}

// Lookup returns the value at a dotted path in a JSON document such as a
// twin: Lookup(twin, "properties.reported.firmware"). It returns nil when
// any part of the path is missing or is not an object. Twin property names
// cannot contain '.', so the path is never ambiguous.
func Lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, name := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[name]; !ok {
			return nil
		}
	}
	return cur
}
