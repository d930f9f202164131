package faults

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Kind is what a fault does. The value is the name used in the admin API.
type Kind string

const (
	// KindRefuseConnects refuses the identity's CONNECTs with ConnackCode:
	// 3 (server unavailable, which the SDKs retry) or 5 (not authorized,
	// which they do not).
	KindRefuseConnects Kind = "refuseConnects"
	// KindDelayTwin holds every twin response to the identity for Delay.
	KindDelayTwin Kind = "delayTwin"
	// KindThrottle makes every operation of class Operation fail with 429
	// ThrottlingException (429001), REST and device side alike.
	KindThrottle Kind = "throttle"
	// KindThrottleDevice makes the identity's own operations fail as a
	// throttled hub's do (InvokeThrottling): telemetry and method responses
	// close its connection, twin requests are answered 429 / 429001.
	KindThrottleDevice Kind = "throttleDevice"
	// KindQuotaExceeded is KindThrottleDevice with the daily quota's error,
	// 403 / 403002 IotHubQuotaExceeded (InvokeMaxMessageQuota).
	KindQuotaExceeded Kind = "quotaExceeded"
	// KindDrop is a connection drop scheduled by a fault message (KillTcp
	// after DelayInSecs, say), listed until it happens. It is created by
	// ScheduleDrop only.
	KindDrop Kind = "drop"
)

// Limits on what a fault may ask for: every fault ends.
const (
	MaxDuration  = 24 * time.Hour   // longest a fault lasts, and latest it may start
	MaxTwinDelay = 10 * time.Minute // longest a twin response is held
)

// CONNACK return codes a refuseConnects fault may answer with.
const (
	ConnackServerUnavailable byte = 3 // retried by the SDKs
	ConnackNotAuthorized     byte = 5 // not retried: a credential error
)

// Spec describes a fault to add.
type Spec struct {
	Kind      Kind
	DeviceID  string    // the identity, for every kind but throttle
	ModuleID  string    // "" for the device itself
	Operation Operation // throttle only
	// ConnackCode is the refusal of a refuseConnects fault: 3 (the default
	// when 0) or 5.
	ConnackCode byte
	Delay       time.Duration // delayTwin only: how long each response is held
	StartIn     time.Duration // from now until the fault takes effect
	Duration    time.Duration // how long it lasts once in effect
}

// Fault is a fault added to an Injector.
type Fault struct {
	ID          string
	Kind        Kind
	DeviceID    string
	ModuleID    string
	Operation   Operation
	ConnackCode byte
	Delay       time.Duration
	Start       time.Time // when it takes effect
	End         time.Time // when it ends (equal to Start for a drop)
}

// active reports whether f is in effect at now.
func (f Fault) active(now time.Time) bool { return !now.Before(f.Start) && now.Before(f.End) }

// targets reports whether f is about the identity.
func (f Fault) targets(deviceID, moduleID string) bool {
	return f.DeviceID == deviceID && f.ModuleID == moduleID
}

type faultJSON struct {
	ID           string    `json:"id"`
	Kind         Kind      `json:"fault"`
	DeviceID     string    `json:"deviceId,omitempty"`
	ModuleID     string    `json:"moduleId,omitempty"`
	Operation    Operation `json:"operation,omitempty"`
	ConnackCode  byte      `json:"connackCode,omitempty"`
	DelaySeconds float64   `json:"delaySeconds,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
}

// MarshalJSON writes the fault as the admin API lists it, durations in seconds.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{
		ID: f.ID, Kind: f.Kind, DeviceID: f.DeviceID, ModuleID: f.ModuleID,
		Operation: f.Operation, ConnackCode: f.ConnackCode, DelaySeconds: f.Delay.Seconds(),
		Start: f.Start.UTC(), End: f.End.UTC(),
	})
}

func invalid(format string, args ...any) *errcode.Error {
	return errcode.New(errcode.ArgumentInvalid, format, args...)
}

// validate checks s and fills its defaults. Errors are *errcode.Error
// ArgumentInvalid, worded for the admin API's user.
func (s *Spec) validate() error {
	switch s.Kind {
	case KindRefuseConnects, KindDelayTwin, KindThrottleDevice, KindQuotaExceeded:
		if err := checkIdentity(s.DeviceID, s.ModuleID); err != nil {
			return err
		}
		if s.Operation != "" {
			return invalid("A %s fault names an identity, not an operation.", s.Kind)
		}
	case KindThrottle:
		if s.DeviceID != "" || s.ModuleID != "" {
			return invalid("A throttle fault applies to a class of operations of the whole hub, not to one identity.")
		}
		if _, err := ParseOperation(string(s.Operation)); err != nil || s.Operation == "" {
			return invalid("A throttle fault needs an operation, one of %s.", joinOps(Operations()))
		}
	case "":
		return invalid("The fault kind is missing: one of refuseConnects, delayTwin, throttle, throttleDevice, quotaExceeded.")
	default:
		return invalid("Unknown fault kind %q: one of refuseConnects, delayTwin, throttle, throttleDevice, quotaExceeded.", s.Kind)
	}

	switch {
	case s.Kind == KindRefuseConnects && s.ConnackCode == 0:
		s.ConnackCode = ConnackServerUnavailable
	case s.Kind == KindRefuseConnects && s.ConnackCode != ConnackServerUnavailable && s.ConnackCode != ConnackNotAuthorized:
		return invalid("connackCode %d is not a refusal the emulator sends: 3 (server unavailable) or 5 (not authorized).", s.ConnackCode)
	case s.Kind != KindRefuseConnects && s.ConnackCode != 0:
		return invalid("connackCode applies to refuseConnects faults only.")
	}

	switch {
	case s.Kind == KindDelayTwin && (s.Delay <= 0 || s.Delay > MaxTwinDelay):
		return invalid("A delayTwin fault needs a delay above 0 and at most %v.", MaxTwinDelay)
	case s.Kind != KindDelayTwin && s.Delay != 0:
		return invalid("delay applies to delayTwin faults only.")
	}
	return checkTiming(s.StartIn, s.Duration)
}

func checkTiming(startIn, d time.Duration) error {
	if d <= 0 || d > MaxDuration {
		return invalid("A fault's duration must be above 0 and at most %v.", MaxDuration)
	}
	if startIn < 0 || startIn > MaxDuration {
		return invalid("A fault must start within %v.", MaxDuration)
	}
	return nil
}

func checkIdentity(deviceID, moduleID string) error {
	switch {
	case deviceID == "":
		return invalid("The fault needs a deviceId.")
	case strings.Contains(deviceID, "/") || strings.Contains(moduleID, "/"):
		return invalid("Device and module ids cannot contain '/'.")
	}
	return nil
}
