package iothubtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// Device is a device identity the hub generated keys for.
type Device struct {
	ID           string
	PrimaryKey   string
	SecondaryKey string
	// ConnectionString is what the device SDKs take:
	// HostName=...;DeviceId=...;SharedAccessKey=<primary key>.
	ConnectionString string
}

// Module is a module identity the hub generated keys for.
type Module struct {
	DeviceID     string
	ID           string
	PrimaryKey   string
	SecondaryKey string
	// ConnectionString is
	// HostName=...;DeviceId=...;ModuleId=...;SharedAccessKey=<primary key>.
	ConnectionString string
}

// CreateDevice registers an enabled device with generated symmetric keys,
// as `PUT /devices/{id}` does, and fails the test if the hub refuses it (an
// invalid id, or one already registered).
func (h *Hub) CreateDevice(t testing.TB, id string) Device {
	t.Helper()
	body, err := json.Marshal(map[string]string{"deviceId": id})
	if err != nil {
		t.Fatalf("iothubtest: create device %q: %v", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	d, err := h.emu.Hub().PutDevice(ctx, id, body, "")
	if err != nil {
		t.Fatalf("iothubtest: create device %q: %v", id, err)
	}
	primary, secondary := keys(d.Authentication)
	return Device{
		ID:           d.DeviceID,
		PrimaryKey:   primary,
		SecondaryKey: secondary,
		ConnectionString: sas.ConnectionString{
			HostName: h.HostName(), DeviceID: d.DeviceID, SharedAccessKey: primary,
		}.String(),
	}
}

// CreateModule registers a module with generated keys on an existing device
// and fails the test if the hub refuses it.
func (h *Hub) CreateModule(t testing.TB, deviceID, moduleID string) Module {
	t.Helper()
	body, err := json.Marshal(map[string]string{"deviceId": deviceID, "moduleId": moduleID})
	if err != nil {
		t.Fatalf("iothubtest: create module %q on device %q: %v", moduleID, deviceID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	m, err := h.emu.Hub().PutModule(ctx, deviceID, moduleID, body, "")
	if err != nil {
		t.Fatalf("iothubtest: create module %q on device %q: %v", moduleID, deviceID, err)
	}
	primary, secondary := keys(m.Authentication)
	return Module{
		DeviceID:     m.DeviceID,
		ID:           m.ModuleID,
		PrimaryKey:   primary,
		SecondaryKey: secondary,
		ConnectionString: sas.ConnectionString{
			HostName: h.HostName(), DeviceID: m.DeviceID, ModuleID: m.ModuleID, SharedAccessKey: primary,
		}.String(),
	}
}

func keys(a registry.Authentication) (primary, secondary string) {
	if a.SymmetricKey == nil {
		return "", ""
	}
	return a.SymmetricKey.PrimaryKey, a.SymmetricKey.SecondaryKey
}

// SASToken signs a device token with the device's primary key, valid for
// ttl from now (whole seconds), for MQTT clients written by hand: it is the
// CONNECT password, with username "{HostName}/{deviceId}/?api-version=2021-04-12".
// A ttl that is not positive gives a token that has already expired, to test
// refusal.
func (h *Hub) SASToken(t testing.TB, deviceID string, ttl time.Duration) string {
	t.Helper()
	d, err := h.emu.Hub().GetDevice(context.Background(), deviceID)
	if err != nil {
		t.Fatalf("iothubtest: SAS token for device %q: %v", deviceID, err)
	}
	primary, _ := keys(d.Authentication)
	if primary == "" {
		t.Fatalf("iothubtest: SAS token for device %q: the device has no symmetric key (authentication type %q)", deviceID, d.Authentication.Type)
	}
	tok, err := sas.NewToken(h.HostName()+"/devices/"+deviceID, primary, "", time.Now().Add(ttl))
	if err != nil {
		t.Fatalf("iothubtest: SAS token for device %q: %v", deviceID, err)
	}
	return tok
}
