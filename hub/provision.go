package hub

import (
	"context"

	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Provisioning is what the Device Provisioning Service asks of its linked
// hub when it assigns a device: the identity's credentials and
// capabilities, and the enrollment's initial twin.
type Provisioning struct {
	DeviceID     string
	Auth         registry.Authentication
	Capabilities registry.Capabilities
	// InitialTwin is a REST twin body (tags, properties.desired), or nil.
	InitialTwin []byte
	// ResetTwin replaces an existing device's tags and desired properties
	// with InitialTwin (the enrollment's reprovision policy does not migrate
	// the device's data). A created device always gets InitialTwin.
	ResetTwin bool
}

// Provision creates the device, or updates the credentials and
// capabilities of an existing one, and sets its twin from the initial twin
// as p asks, in one store transaction: a device is never left created
// without its initial twin. It reports whether the device was created. A
// disabled device stays disabled: provisioning does not override the
// hub's own status.
func (h *Hub) Provision(ctx context.Context, p Provisioning) (created bool, err error) {
	if err := registry.ValidateID("Device", p.DeviceID); err != nil {
		return false, err
	}
	var u twin.ServiceUpdate
	if p.InitialTwin != nil {
		if u, err = twin.ParseServiceBody(p.InitialTwin); err != nil {
			return false, err
		}
	}
	unlock := h.locks.Lock(p.DeviceID)
	defer unlock()
	key := identityKey(p.DeviceID, "")
	cur := h.get(key)
	var next *entry
	if cur == nil {
		next = &entry{identity: newIdentity(p.DeviceID, "", h.now()), twin: twin.New(h.now())}
		next.status = registry.StatusEnabled
	} else {
		next = cur.with()
	}
	next.etagSeq = h.etagSeq.Add(1)
	next.etag = registry.ETag(next.etagSeq)
	next.auth = p.Auth
	next.capabilities = p.Capabilities

	var change twin.DesiredChange
	if p.InitialTwin != nil && (cur == nil || p.ResetTwin) {
		tw, ch, err := next.twin.Replaced(u, h.now())
		if err != nil {
			return false, err
		}
		next.twin, change = tw, ch
	}
	if err := h.commit(ctx, key, next); err != nil {
		return false, err
	}
	if cur != nil {
		if next.mustDisconnect(cur.identity) {
			h.devices.Disconnect(p.DeviceID, "")
		} else if change.Changed {
			h.sendDesired(p.DeviceID, "", change)
		}
	}
	op := "update-"
	if cur == nil {
		op = "create-"
	}
	h.stats.registryOps.Inc(op + deviceKind.String())
	h.log.Debug("device provisioned", logAttrs(p.DeviceID, "", "created", cur == nil)...)
	return cur == nil, nil
}
