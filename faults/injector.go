package faults

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// dropGrace is how long a scheduled drop stays listed past its time when
// nobody claims it (its broker was closed, say).
const dropGrace = time.Minute

// Injector holds the faults in effect. It is safe for concurrent use; the
// zero value is not usable, call New.
type Injector struct {
	now func() time.Time

	mu      sync.Mutex
	faults  []Fault // unordered; pruned as they end
	nextID  uint64
	limiter *Limiter
	dropper Dropper
}

// Dropper ends an identity's connection now: the device link that reaches
// every protocol head.
type Dropper interface {
	Disconnect(deviceID, moduleID string)
}

// DropperFunc adapts a function to Dropper.
type DropperFunc func(deviceID, moduleID string)

// Disconnect calls f.
func (f DropperFunc) Disconnect(deviceID, moduleID string) { f(deviceID, moduleID) }

// Options configure an Injector.
type Options struct {
	// Dropper carries out DropConnection. It is required.
	Dropper Dropper
	// Limiter, if set, is the tier whose throttles Admit applies as well.
	Limiter *Limiter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns an Injector with no faults.
func New(opts Options) (*Injector, error) {
	if opts.Dropper == nil {
		return nil, errors.New("faults: Options.Dropper is required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Injector{now: now, dropper: opts.Dropper, limiter: opts.Limiter}, nil
}

// Add adds a fault. Errors are *errcode.Error ArgumentInvalid; nothing is
// added then.
func (f *Injector) Add(s Spec) (Fault, error) {
	if err := s.validate(); err != nil {
		return Fault{}, err
	}
	start := f.now().Add(s.StartIn)
	return f.insert(Fault{
		Kind: s.Kind, DeviceID: s.DeviceID, ModuleID: s.ModuleID, Operation: s.Operation,
		ConnackCode: s.ConnackCode, Delay: s.Delay, Start: start, End: start.Add(s.Duration),
	}), nil
}

func (f *Injector) insert(ft Fault) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	ft.ID = "f" + strconv.FormatUint(f.nextID, 10)
	f.faults = append(f.faults, ft)
	return ft
}

// DropConnection closes the identity's connection now, through the dropper.
func (f *Injector) DropConnection(deviceID, moduleID string) {
	f.dropper.Disconnect(deviceID, moduleID)
}

// RefuseConnects refuses the identity's CONNECTs with CONNACK 3 (server
// unavailable, which the SDKs retry) for d. Its live connection, if any, is
// left alone: add DropConnection for an outage.
func (f *Injector) RefuseConnects(deviceID, moduleID string, d time.Duration) (Fault, error) {
	return f.Add(Spec{Kind: KindRefuseConnects, DeviceID: deviceID, ModuleID: moduleID, Duration: d})
}

// DelayTwin holds every twin response to the identity (GET and reported
// PATCH over MQTT) for delay, for d. Requests are carried out at once; only
// the answer waits.
func (f *Injector) DelayTwin(deviceID, moduleID string, delay, d time.Duration) (Fault, error) {
	return f.Add(Spec{Kind: KindDelayTwin, DeviceID: deviceID, ModuleID: moduleID, Delay: delay, Duration: d})
}

// Throttle makes every operation of class op fail with 429
// ThrottlingException (429001) for d.
func (f *Injector) Throttle(op Operation, d time.Duration) (Fault, error) {
	return f.Add(Spec{Kind: KindThrottle, Operation: op, Duration: d})
}

// ScheduleDrop records that the identity's connection is to be dropped in
// in, so it is listed and Clear can cancel it. Whoever drops it calls
// ClaimDrop at that time.
func (f *Injector) ScheduleDrop(deviceID, moduleID string, in time.Duration) (Fault, error) {
	if err := checkIdentity(deviceID, moduleID); err != nil {
		return Fault{}, err
	}
	if in < 0 || in > MaxDuration {
		return Fault{}, invalid("A drop must happen within %v.", MaxDuration)
	}
	at := f.now().Add(in)
	return f.insert(Fault{Kind: KindDrop, DeviceID: deviceID, ModuleID: moduleID, Start: at, End: at}), nil
}

// ClaimDrop removes a scheduled drop and reports whether it was still
// scheduled (not cleared or removed meanwhile).
func (f *Injector) ClaimDrop(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.faults, func(ft Fault) bool { return ft.ID == id && ft.Kind == KindDrop })
	if i < 0 {
		return false
	}
	f.faults = slices.Delete(f.faults, i, i+1)
	return true
}

// Remove removes one fault and reports whether it existed.
func (f *Injector) Remove(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked(f.now())
	n := len(f.faults)
	f.faults = slices.DeleteFunc(f.faults, func(ft Fault) bool { return ft.ID == id })
	return len(f.faults) < n
}

// Clear removes every fault, in effect or scheduled.
func (f *Injector) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Active lists the faults in effect or yet to start, soonest first.
func (f *Injector) Active() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked(f.now())
	out := append([]Fault{}, f.faults...) // never nil: lists as []
	slices.SortFunc(out, func(a, b Fault) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// pruneLocked forgets the faults that have ended.
func (f *Injector) pruneLocked(now time.Time) {
	f.faults = slices.DeleteFunc(f.faults, func(ft Fault) bool {
		if ft.Kind == KindDrop {
			return now.After(ft.Start.Add(dropGrace))
		}
		return !now.Before(ft.End)
	})
}

// inEffect returns the faults in effect now that match keep.
func (f *Injector) inEffect(keep func(Fault) bool) []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.pruneLocked(now)
	var out []Fault
	for _, ft := range f.faults {
		if ft.Kind != KindDrop && ft.active(now) && keep(ft) {
			out = append(out, ft)
		}
	}
	return out
}

// ConnectRefusal reports whether a CONNECT of the identity is to be refused
// now, and with which CONNACK code (5 wins over 3 when both are in effect).
func (f *Injector) ConnectRefusal(deviceID, moduleID string) (code byte, refused bool) {
	for _, ft := range f.inEffect(func(ft Fault) bool {
		return ft.Kind == KindRefuseConnects && ft.targets(deviceID, moduleID)
	}) {
		code, refused = max(code, ft.ConnackCode), true
	}
	return code, refused
}

// TwinDelay is how long twin responses to the identity are held now (the
// longest delay in effect; 0 for none).
func (f *Injector) TwinDelay(deviceID, moduleID string) time.Duration {
	var d time.Duration
	for _, ft := range f.inEffect(func(ft Fault) bool {
		return ft.Kind == KindDelayTwin && ft.targets(deviceID, moduleID)
	}) {
		d = max(d, ft.Delay)
	}
	return d
}

// DeviceError is the error the identity's own operations fail with now:
// ThrottlingException under throttleDevice, IotHubQuotaExceeded under
// quotaExceeded (which wins when both are in effect), else nil.
func (f *Injector) DeviceError(deviceID, moduleID string) error {
	var throttled, quota bool
	for _, ft := range f.inEffect(func(ft Fault) bool { return ft.targets(deviceID, moduleID) }) {
		throttled = throttled || ft.Kind == KindThrottleDevice
		quota = quota || ft.Kind == KindQuotaExceeded
	}
	switch {
	case quota:
		return errcode.New(errcode.IotHubQuotaExceeded, "Total number of messages on IotHub exceeded the allocated quota (injected fault).")
	case throttled:
		return errcode.New(errcode.ThrottlingException, "The device's operations are throttled (injected fault).")
	}
	return nil
}

// Admit reports whether one operation of class op may proceed now: nil, or
// an *errcode.Error ThrottlingException when a throttle fault covers op or
// the attached tier limiter has no capacity left for it. An admitted
// operation counts against the tier's rate.
func (f *Injector) Admit(op Operation) error {
	if len(f.inEffect(func(ft Fault) bool { return ft.Kind == KindThrottle && ft.Operation == op })) > 0 {
		return errcode.New(errcode.ThrottlingException, "Operations of class %s are throttled (injected fault).", op)
	}
	if l := f.limiter; l != nil && !l.Allow(op, f.now()) {
		return errcode.New(errcode.ThrottlingException, "Operations of class %s are over the %s tier's rate.", op, l.Tier())
	}
	return nil
}
