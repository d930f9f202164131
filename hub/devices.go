package hub

import (
	"context"
	"slices"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// maxListDevices is the hub's cap on the legacy GET /devices list.
const maxListDevices = 1000

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
	if cur == nil && hasIfMatch(ifMatch) {
		return registry.Device{}, deviceNotFound(id)
	}
	if cur != nil && !hasIfMatch(ifMatch) {
		return registry.Device{}, errcode.New(errcode.DeviceAlreadyExists, "A device with ID '%s' is already registered.", id)
	}
	if cur != nil && !etagMatches(ifMatch, cur.record.Device.ETag) {
		return registry.Device{}, errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match the device's current etag.", ifMatch)
	}

	now := h.timestamp()
	seq := h.etagSeq.Add(1)
	var next *entry
	if cur == nil {
		next = &entry{
			record: deviceRecord{Device: registry.Device{
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
		next = &entry{record: cur.record, twin: cur.twin}
	}
	d := &next.record.Device
	next.record.ETagSeq = seq
	d.ETag = registry.ETag(seq)
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

	if err := h.persist(ctx, id, next); err != nil {
		return registry.Device{}, err
	}
	h.publish(id, next)
	if cur != nil && credentialsChanged(cur.record.Device, *d) {
		if n := h.notify(); n != nil {
			n.Disconnect(id, "")
		}
	}
	h.log.Debug("device written", "device", id, "created", cur == nil)
	return *d, nil
}

// credentialsChanged reports whether an update must end the device's
// current connection: it was disabled or its keys changed.
func credentialsChanged(old, cur registry.Device) bool {
	if cur.Status == registry.StatusDisabled && old.Status != registry.StatusDisabled {
		return true
	}
	if old.Authentication.Type != cur.Authentication.Type {
		return true
	}
	o, c := old.Authentication.SymmetricKey, cur.Authentication.SymmetricKey
	if (o == nil) != (c == nil) {
		return true
	}
	return o != nil && *o != *c
}

// GetDevice returns a device identity.
func (h *Hub) GetDevice(_ context.Context, id string) (registry.Device, error) {
	e := h.get(id)
	if e == nil {
		return registry.Device{}, deviceNotFound(id)
	}
	return e.record.Device, nil
}

// DeleteDevice deletes a device and its twin; If-Match is optional.
func (h *Hub) DeleteDevice(ctx context.Context, id, ifMatch string) error {
	unlock := h.locks.Lock(id)
	defer unlock()
	cur := h.get(id)
	if cur == nil {
		return deviceNotFound(id)
	}
	if !etagMatches(ifMatch, cur.record.Device.ETag) {
		return errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match the device's current etag.", ifMatch)
	}
	if err := h.persist(ctx, id, nil); err != nil {
		return err
	}
	h.publish(id, nil)
	if n := h.notify(); n != nil {
		n.Disconnect(id, "")
	}
	h.log.Debug("device deleted", "device", id)
	return nil
}

// ListDevices returns up to top devices in id order (the legacy list; the
// hub caps it at 1000).
func (h *Hub) ListDevices(_ context.Context, top int) []registry.Device {
	if top <= 0 || top > maxListDevices {
		top = maxListDevices
	}
	ids := h.sortedIDs()
	out := make([]registry.Device, 0, min(top, len(ids)))
	for _, id := range ids {
		if len(out) == top {
			break
		}
		if e := h.get(id); e != nil {
			out = append(out, e.record.Device)
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
	for _, e := range h.devices {
		rs.TotalDeviceCount++
		if e.record.Device.Status == registry.StatusEnabled {
			rs.EnabledDeviceCount++
		} else {
			rs.DisabledDeviceCount++
		}
		if e.record.Device.ConnectionState == registry.Connected {
			ss.ConnectedDeviceCount++
		}
	}
	return rs, ss
}
