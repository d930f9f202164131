package iothubtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// scanBatch is how many messages one look at the telemetry log returns.
const scanBatch = 100

// NextTelemetry returns the next device-to-cloud message the device itself
// (not one of its modules) sent, waiting up to timeout (DefaultTimeout if
// not positive) for it, and fails the test if none comes.
//
// "Next" is per Hub and per device: the oldest message in the hub's
// telemetry log from that device that no earlier NextTelemetry call on this
// Hub has returned. So a message the device sent before the call is not
// missed, each message is returned once, and messages come back in the
// order the hub received them. Concurrent calls for one device each get a
// different message. A message the log no longer keeps (see the emulator's
// telemetry retention, 10000 messages by default) is skipped.
func (h *Hub) NextTelemetry(t testing.TB, deviceID string, timeout time.Duration) d2c.Message {
	t.Helper()
	m, err := h.nextTelemetry(deviceID, "", timeout)
	if err != nil {
		t.Fatalf("iothubtest: %v", err)
	}
	return m
}

// NextModuleTelemetry is NextTelemetry for the messages a module sent.
func (h *Hub) NextModuleTelemetry(t testing.TB, deviceID, moduleID string, timeout time.Duration) d2c.Message {
	t.Helper()
	m, err := h.nextTelemetry(deviceID, moduleID, timeout)
	if err != nil {
		t.Fatalf("iothubtest: %v", err)
	}
	return m
}

func (h *Hub) nextTelemetry(deviceID, moduleID string, timeout time.Duration) (d2c.Message, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	key, who := deviceID, fmt.Sprintf("device %q", deviceID)
	if moduleID != "" {
		key, who = deviceID+"/"+moduleID, fmt.Sprintf("module %q on device %q", moduleID, deviceID)
	}
	log := h.emu.Telemetry()
	for {
		h.mu.Lock()
		from := h.cursors[key]
		h.mu.Unlock()
		// The filter's empty ModuleID matches every sender of the device,
		// so the sender is checked below.
		msgs, next, err := log.Wait(ctx, d2c.Filter{DeviceID: deviceID, ModuleID: moduleID, FromSequence: from}, scanBatch)
		if errors.Is(err, d2c.ErrClosed) {
			return d2c.Message{}, fmt.Errorf("no telemetry from %s: the hub is closed", who)
		}
		if err != nil {
			return d2c.Message{}, fmt.Errorf("telemetry from %s: %w", who, err)
		}
		if len(msgs) == 0 {
			h.mu.Lock()
			n := h.returned[key]
			h.mu.Unlock()
			return d2c.Message{}, fmt.Errorf("no telemetry from %s within %v (each message is returned once; %d returned before)", who, timeout, n)
		}
		found := -1
		for i, m := range msgs {
			if m.ModuleID == moduleID {
				found = i
				break
			}
		}
		h.mu.Lock()
		if h.cursors[key] != from {
			// Another call for this sender took a message meanwhile; look again.
			h.mu.Unlock()
			continue
		}
		if found < 0 {
			// Nothing here was sent by this sender; never look at it again.
			h.cursors[key] = next
			h.mu.Unlock()
			continue
		}
		m := msgs[found]
		h.cursors[key] = m.SequenceNumber + 1
		h.returned[key]++
		h.mu.Unlock()
		return m, nil
	}
}
