// Package hubtest opens hubs for the tests of the packages built on hub:
// the hub's real code on a real store, with a recording stand-in for the
// device connections.
package hubtest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Open opens a hub for a test: on an in-memory store unless opts has one,
// with a telemetry log on that store and a fresh Devices unless opts has
// them, and host name localhost unless opts names others. The hub and its
// log are closed when the test ends (the store is the caller's).
func Open(t testing.TB, opts hub.Options) *hub.Hub {
	t.Helper()
	if opts.Store == nil {
		opts.Store = store.OpenMemory()
	}
	if len(opts.HostNames) == 0 {
		opts.HostNames = []string{"localhost"}
	}
	if opts.Devices == nil {
		opts.Devices = NewDevices()
	}
	if opts.Telemetry == nil {
		tl, err := d2c.Open(d2c.Options{Store: opts.Store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tl.Close() })
		opts.Telemetry = tl
	}
	h, err := hub.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Delivery is one cloud-to-device message handed to Devices.
type Delivery struct {
	DeviceID string
	Message  c2d.Message
	Ack      func()
}

// Devices stands in for the device connections (hub.Devices): it records
// desired notifications and disconnects, answers direct methods through
// the invoker it is given (none: the device is not online), and takes
// cloud-to-device messages for devices marked online.
type Devices struct {
	mu          sync.Mutex
	desired     []string
	disconnects []string
	invoker     hub.MethodInvoker
	online      map[string]bool
	deliveries  []Delivery
	autoAck     bool
}

// NewDevices returns Devices with every device offline.
func NewDevices() *Devices { return &Devices{online: map[string]bool{}} }

var _ hub.Devices = (*Devices)(nil)

// ErrOffline is Deliver's answer for a device not marked online.
var ErrOffline = errors.New("hubtest: device offline")

func key(deviceID, moduleID string) string {
	if moduleID == "" {
		return deviceID
	}
	return deviceID + "/" + moduleID
}

// DesiredChanged records "deviceId[/moduleId] vN body".
func (d *Devices) DesiredChanged(deviceID, moduleID string, version int64, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.desired = append(d.desired, key(deviceID, moduleID)+" v"+strconv.FormatInt(version, 10)+" "+string(body))
}

// Disconnect records "deviceId[/moduleId]".
func (d *Devices) Disconnect(deviceID, moduleID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disconnects = append(d.disconnects, key(deviceID, moduleID))
}

// Forget records "forget deviceId[/moduleId]".
func (d *Devices) Forget(deviceID, moduleID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disconnects = append(d.disconnects, "forget "+key(deviceID, moduleID))
}

// InvokeMethod calls the invoker set with SetInvoker.
func (d *Devices) InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connect, response time.Duration) (int, []byte, error) {
	d.mu.Lock()
	inv := d.invoker
	d.mu.Unlock()
	if inv == nil {
		return 0, nil, errcode.New(errcode.DeviceNotOnline, "The device is not online.")
	}
	return inv.InvokeMethod(ctx, deviceID, moduleID, name, payload, connect, response)
}

// Deliver takes m if the device is online, acknowledging it at once with
// SetAutoAck.
func (d *Devices) Deliver(deviceID string, m c2d.Message, ack func()) error {
	d.mu.Lock()
	if !d.online[deviceID] {
		d.mu.Unlock()
		return ErrOffline
	}
	d.deliveries = append(d.deliveries, Delivery{DeviceID: deviceID, Message: m, Ack: ack})
	auto := d.autoAck
	d.mu.Unlock()
	if auto {
		ack()
	}
	return nil
}

// SetInvoker answers direct methods with inv.
func (d *Devices) SetInvoker(inv hub.MethodInvoker) {
	d.mu.Lock()
	d.invoker = inv
	d.mu.Unlock()
}

// SetOnline marks a device able (or not) to take cloud-to-device messages.
func (d *Devices) SetOnline(deviceID string, on bool) {
	d.mu.Lock()
	d.online[deviceID] = on
	d.mu.Unlock()
}

// SetAutoAck makes online devices acknowledge each message inside Deliver.
func (d *Devices) SetAutoAck(on bool) {
	d.mu.Lock()
	d.autoAck = on
	d.mu.Unlock()
}

// Desired lists the recorded desired notifications in order.
func (d *Devices) Desired() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.desired)
}

// Disconnects lists the recorded disconnects and forgets in order.
func (d *Devices) Disconnects() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.disconnects)
}

// Deliveries lists the cloud-to-device messages taken, in order.
func (d *Devices) Deliveries() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.deliveries)
}
