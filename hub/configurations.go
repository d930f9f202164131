package hub

import (
	"context"
	"maps"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// Configuration statuses, as twins show them under
// configurations.{id}.status.
const (
	ConfigurationTargeted = "Targeted"
	ConfigurationApplied  = "Applied"
)

// EdgeAgent and EdgeHub are the modules IoT Hub creates with every IoT
// Edge device; deployments write their desired properties.
const (
	EdgeAgent = "$edgeAgent"
	EdgeHub   = "$edgeHub"
)

// SetConfigurations records the configurations that target an identity and
// whether each is applied, shown in its twin's "configurations" property.
// Like IoT Hub, the hub maintains it: it moves neither the identity's etag
// nor the twin's. An unchanged status set writes nothing.
func (h *Hub) SetConfigurations(ctx context.Context, deviceID, moduleID string, statuses map[string]string) error {
	unlock := h.locks.Lock(deviceID)
	defer unlock()
	cur, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return err
	}
	if maps.Equal(cur.configurations, statuses) { // nil and empty are equal
		return nil
	}
	next := cur.with()
	next.configurations = maps.Clone(statuses)
	if len(statuses) == 0 {
		next.configurations = nil
	}
	return h.commit(ctx, identityKey(deviceID, moduleID), next)
}

// edgeModules returns the system modules an IoT Edge device lacks, new,
// for the caller to write with the device; nil for any other device.
func (h *Hub) edgeModules(dev *entry) (map[string]*entry, error) {
	if dev.kind != deviceKind || !dev.capabilities.IotEdge {
		return nil, nil
	}
	var out map[string]*entry
	for _, m := range []string{EdgeAgent, EdgeHub} {
		key := identityKey(dev.deviceID, m)
		if h.get(key) != nil {
			continue
		}
		in, err := parseInput(dev.deviceID, m, []byte(`{}`))
		if err != nil {
			return nil, err
		}
		e := &entry{identity: newIdentity(dev.deviceID, m, h.now()), twin: twin.New(h.now())}
		e.etagSeq = h.etagSeq.Add(1)
		e.etag = registry.ETag(e.etagSeq)
		e.set(in, h.stamp(), false)
		if out == nil {
			out = map[string]*entry{}
		}
		out[key] = e
	}
	return out, nil
}

// ConfigurationHolders lists the identities whose twins show a
// configurations property, as (deviceID, moduleID) pairs in key order.
func (h *Hub) ConfigurationHolders() [][2]string {
	h.mu.RLock()
	none := h.configured == 0
	h.mu.RUnlock()
	if none {
		return nil // the common case, without a scan of the registry
	}
	keys := h.sortedKeys(func(_ string, e *entry) bool { return len(e.configurations) > 0 })
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		dev, mod, _ := strings.Cut(k, "/")
		out = append(out, [2]string{dev, mod})
	}
	return out
}
