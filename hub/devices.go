package hub

import (
	"context"
	"slices"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// maxListDevices is the hub's cap on the legacy GET /devices list.
const maxListDevices = 1000

func etagMismatch(ifMatch string) error {
	return errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match the current etag.", ifMatch)
}

// PutDevice creates (no If-Match) or updates (If-Match, "*" included) a
// device identity from a REST body, as PUT /devices/{id} does.
func (h *Hub) PutDevice(ctx context.Context, id string, body []byte, ifMatch string) (registry.Device, error) {
	if err := registry.ValidateID("Device", id); err != nil {
		return registry.Device{}, err
	}
	in, err := registry.ParseDeviceInput(id, body)
	if err != nil {
		return registry.Device{}, err
	}
	unlock := h.locks.Lock(id)
	defer unlock()

	cur := h.get(id)
	switch {
	case cur == nil && hasIfMatch(ifMatch):
		return registry.Device{}, deviceNotFound(id)
	case cur != nil && !hasIfMatch(ifMatch):
		return registry.Device{}, errcode.New(errcode.DeviceAlreadyExists, "A device with ID '%s' is already registered.", id)
	case cur != nil && !etagMatches(ifMatch, cur.device.Device.ETag):
		return registry.Device{}, etagMismatch(ifMatch)
	}

	now := h.timestamp()
	var next *entry
	if cur == nil {
		next = &entry{
			device: &deviceRecord{Device: registry.Device{
				DeviceID:                   id,
				GenerationID:               registry.NewGenerationID(h.now()),
				ConnectionState:            registry.Disconnected,
				ConnectionStateUpdatedTime: registry.NeverTime,
				StatusUpdatedTime:          registry.NeverTime,
				LastActivityTime:           registry.NeverTime,
			}},
			twin: twin.New(h.now()),
		}
	} else {
		next = cur.with()
	}
	d := &next.device.Device
	next.device.ETagSeq = h.etagSeq.Add(1)
	d.ETag = registry.ETag(next.device.ETagSeq)
	if cur != nil && d.Status != in.Status {
		d.StatusUpdatedTime = now
	}
	d.Status = in.Status
	d.StatusReason = in.StatusReason
	d.Authentication = *in.Authentication
	if in.Capabilities != nil {
		d.Capabilities = *in.Capabilities
	}
	d.DeviceScope = in.DeviceScope
	d.ParentScopes = slices.Clone(in.ParentScopes)

	if err := h.commit(ctx, id, next); err != nil {
		return registry.Device{}, err
	}
	if cur != nil {
		old := cur.device.Device
		if (d.Status == registry.StatusDisabled && old.Status != registry.StatusDisabled) || credentialsChanged(old.Authentication, d.Authentication) {
			h.disconnect(id, "")
		}
	}
	if cur == nil {
		h.stats.registryOps.Inc("create-device")
	} else {
		h.stats.registryOps.Inc("update-device")
	}
	h.log.Debug("device written", "device", id, "created", cur == nil)
	return *d, nil
}

// credentialsChanged reports whether an identity's keys or auth type changed,
// which must end its current connection.
func credentialsChanged(old, cur registry.Authentication) bool {
	if old.Type != cur.Type {
		return true
	}
	o, c := old.SymmetricKey, cur.SymmetricKey
	if (o == nil) != (c == nil) {
		return true
	}
	return o != nil && *o != *c
}

func (h *Hub) disconnect(deviceID, moduleID string) {
	if n := h.notify(); n != nil {
		n.Disconnect(deviceID, moduleID)
	}
}

// GetDevice returns a device identity.
func (h *Hub) GetDevice(_ context.Context, id string) (registry.Device, error) {
	e := h.get(id)
	if e == nil || e.device == nil {
		return registry.Device{}, deviceNotFound(id)
	}
	return e.device.Device, nil
}

// DeleteDevice deletes a device with its twin and its modules; If-Match is optional.
func (h *Hub) DeleteDevice(ctx context.Context, id, ifMatch string) error {
	unlock := h.locks.Lock(id)
	defer unlock()
	cur := h.get(id)
	if cur == nil || cur.device == nil {
		return deviceNotFound(id)
	}
	if !etagMatches(ifMatch, cur.device.Device.ETag) {
		return etagMismatch(ifMatch)
	}
	if err := h.removeDevice(ctx, id); err != nil {
		return err
	}
	h.stats.registryOps.Inc("delete-device")
	h.log.Debug("device deleted", "device", id)
	return nil
}

// moduleKeys lists the identity keys of a device's modules.
func (h *Hub) moduleKeys(deviceID string) []string {
	prefix := deviceID + "/"
	return h.sortedKeys(func(k string, _ *entry) bool { return strings.HasPrefix(k, prefix) })
}

// ListDevices returns up to top devices in id order (the legacy list; the
// hub caps it at 1000).
func (h *Hub) ListDevices(_ context.Context, top int) []registry.Device {
	if top <= 0 || top > maxListDevices {
		top = maxListDevices
	}
	keys := h.DeviceIDs()
	out := make([]registry.Device, 0, min(top, len(keys)))
	for _, k := range keys[:min(top, len(keys))] {
		if e := h.get(k); e != nil && e.device != nil {
			out = append(out, e.device.Device)
		}
	}
	return out
}

// RegistryStatistics is GET /statistics/devices.
type RegistryStatistics struct {
	TotalDeviceCount    int64 `json:"totalDeviceCount"`
	EnabledDeviceCount  int64 `json:"enabledDeviceCount"`
	DisabledDeviceCount int64 `json:"disabledDeviceCount"`
}

// ServiceStatistics is GET /statistics/service.
type ServiceStatistics struct {
	ConnectedDeviceCount int64 `json:"connectedDeviceCount"`
}

// Statistics counts devices by status and connection.
func (h *Hub) Statistics() (RegistryStatistics, ServiceStatistics) {
	var rs RegistryStatistics
	var ss ServiceStatistics
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, e := range h.entries {
		if e.device == nil {
			continue
		}
		rs.TotalDeviceCount++
		if e.device.Device.Status == registry.StatusEnabled {
			rs.EnabledDeviceCount++
		} else {
			rs.DisabledDeviceCount++
		}
		if e.device.Device.ConnectionState == registry.Connected {
			ss.ConnectedDeviceCount++
		}
	}
	return rs, ss
}

// DeviceIDs returns every device id in order (unlike ListDevices, uncapped).
func (h *Hub) DeviceIDs() []string {
	return h.sortedKeys(func(_ string, e *entry) bool { return e.device != nil })
}
