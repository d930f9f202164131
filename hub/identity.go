package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonenc"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// kind tells a device from a module; both are one identity record.
type kind uint8

const (
	deviceKind kind = iota
	moduleKind
)

// kindOf is the kind of the identity a (deviceID, moduleID) pair names.
func kindOf(moduleID string) kind {
	if moduleID == "" {
		return deviceKind
	}
	return moduleKind
}

// String is "device" or "module", as metrics, logs and the telemetry
// auth-method scope name the kind.
func (k kind) String() string {
	if k == moduleKind {
		return "module"
	}
	return "device"
}

// authMethod is the iothub-connection-auth-method system property of
// telemetry an identity of the kind sends with a SAS token.
func (k kind) authMethod() string {
	if k == moduleKind {
		return `{"scope":"module","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
	}
	return `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
}

// bucket is the store bucket that holds identities of the kind.
func (k kind) bucket() string {
	if k == moduleKind {
		return store.Modules
	}
	return store.Devices
}

// identity is one device or module identity as the hub keeps it. The fields
// a kind does not have stay zero. Times are kept as time.Time, to 100 ns as
// IoT Hub shows them, and formatted only where they leave the hub: the
// registry.Device or registry.Module the API returns, the twin view and the
// stored record.
type identity struct {
	kind         kind
	deviceID     string
	moduleID     string // "" for a device
	generationID string
	etag         string
	etagSeq      int64 // the hub-wide counter value etag was made from

	// status is always enabled for a module, which has no status of its own
	// (its twin shows it enabled); statusReason and statusUpdated stay zero.
	status        string
	statusReason  *string
	statusUpdated time.Time // zero: never

	connected         bool
	connectionUpdated time.Time // zero: never
	lastActivity      time.Time // zero: never
	c2dCount          int       // pending cloud-to-device messages (devices)
	auth              registry.Authentication
	modelID           string // announced on connect

	// Devices only.
	capabilities registry.Capabilities
	deviceScope  string
	parentScopes []string
	// Modules only.
	managedBy string

	// configurations is what the configurations manager last recorded for
	// the twin's "configurations" property: status (Targeted, Applied) by
	// configuration id. Hub-maintained, it moves no etag or version.
	configurations map[string]string
}

// newIdentity is an identity as IoT Hub creates it, before its PUT body is
// applied: disconnected, never active, with a new generation id.
func newIdentity(deviceID, moduleID string, now time.Time) identity {
	return identity{
		kind:         kindOf(moduleID),
		deviceID:     deviceID,
		moduleID:     moduleID,
		generationID: registry.NewGenerationID(now),
	}
}

// input is what a PUT body sets on an identity of either kind; what the kind
// cannot set stays zero (a module's status is enabled).
type input struct {
	status       string
	statusReason *string
	auth         registry.Authentication
	capabilities *registry.Capabilities // nil: keep the current ones
	deviceScope  string
	parentScopes []string
	managedBy    string
}

// parseInput checks the URL's id and decodes a PUT body for a device
// (moduleID "") or a module, with the registry's rules for that kind.
func parseInput(deviceID, moduleID string, body []byte) (input, error) {
	return inputFor(deviceID, moduleID, body, nil, nil)
}

// inputFor is parseInput, given what the body parses to (dev for a device,
// mod for a module) when that was parsed ahead.
func inputFor(deviceID, moduleID string, body []byte, dev *registry.DeviceInput, mod *registry.ModuleInput) (input, error) {
	if moduleID != "" {
		if err := registry.ValidateID("Module", moduleID); err != nil {
			return input{}, err
		}
		if mod == nil {
			m, err := registry.ParseModuleInput(deviceID, moduleID, body)
			if err != nil {
				return input{}, err
			}
			mod = &m
		}
		return input{status: registry.StatusEnabled, auth: *mod.Authentication, managedBy: mod.ManagedBy}, nil
	}
	if err := registry.ValidateID("Device", deviceID); err != nil {
		return input{}, err
	}
	if dev == nil {
		d, err := registry.ParseDeviceInput(deviceID, body)
		if err != nil {
			return input{}, err
		}
		dev = &d
	}
	return input{
		status:       dev.Status,
		statusReason: dev.StatusReason,
		auth:         *dev.Authentication,
		capabilities: dev.Capabilities,
		deviceScope:  dev.DeviceScope,
		parentScopes: dev.ParentScopes,
	}, nil
}

// set applies a PUT body at now. The status time moves only when the status
// of an identity that already existed changes.
func (r *identity) set(in input, now time.Time, existed bool) {
	if existed && r.status != in.status {
		r.statusUpdated = now
	}
	r.status = in.status
	r.statusReason = in.statusReason
	r.auth = in.auth
	if in.capabilities != nil {
		r.capabilities = *in.capabilities
	}
	r.deviceScope = in.deviceScope
	r.parentScopes = slices.Clone(in.parentScopes)
	r.managedBy = in.managedBy
}

// mustDisconnect reports whether going from old to r ends the identity's
// connection: it was disabled, or its credentials changed.
func (r *identity) mustDisconnect(old identity) bool {
	disabled := r.status == registry.StatusDisabled && old.status != registry.StatusDisabled
	return disabled || credentialsChanged(old.auth, r.auth)
}

// credentialsChanged reports whether an identity's keys or auth type changed,
// which must end its current connection.
func credentialsChanged(old, cur registry.Authentication) bool {
	if old.Type != cur.Type {
		return true
	}
	if thumbprint(old.X509Thumbprint.PrimaryThumbprint) != thumbprint(cur.X509Thumbprint.PrimaryThumbprint) ||
		thumbprint(old.X509Thumbprint.SecondaryThumbprint) != thumbprint(cur.X509Thumbprint.SecondaryThumbprint) {
		return true
	}
	o, c := old.SymmetricKey, cur.SymmetricKey
	if (o == nil) != (c == nil) {
		return true
	}
	return o != nil && *o != *c
}

// thumbprint is a registered thumbprint in one spelling ("" for none).
func thumbprint(t *string) string {
	if t == nil {
		return ""
	}
	return registry.NormalizeThumbprint(*t)
}

func (r *identity) connectionState() string {
	if r.connected {
		return registry.Connected
	}
	return registry.Disconnected
}

// toDevice is a device identity as the REST API returns it.
func (r *identity) toDevice() registry.Device {
	return registry.Device{
		DeviceID:                   r.deviceID,
		GenerationID:               r.generationID,
		ETag:                       r.etag,
		ConnectionState:            r.connectionState(),
		Status:                     r.status,
		StatusReason:               r.statusReason,
		ConnectionStateUpdatedTime: wireTime(r.connectionUpdated),
		StatusUpdatedTime:          wireTime(r.statusUpdated),
		LastActivityTime:           wireTime(r.lastActivity),
		CloudToDeviceMessageCount:  r.c2dCount,
		Authentication:             r.auth,
		Capabilities:               r.capabilities,
		DeviceScope:                r.deviceScope,
		ParentScopes:               r.parentScopes,
	}
}

// toModule is a module identity as the REST API returns it.
func (r *identity) toModule() registry.Module {
	return registry.Module{
		ModuleID:                   r.moduleID,
		ManagedBy:                  r.managedBy,
		DeviceID:                   r.deviceID,
		GenerationID:               r.generationID,
		ETag:                       r.etag,
		ConnectionState:            r.connectionState(),
		ConnectionStateUpdatedTime: wireTime(r.connectionUpdated),
		LastActivityTime:           wireTime(r.lastActivity),
		CloudToDeviceMessageCount:  r.c2dCount,
		Authentication:             r.auth,
	}
}

// stamp is now as the hub records it in an identity: UTC, to the 100 ns
// IoT Hub shows, so what the hub keeps is what it shows and stores.
func (h *Hub) stamp() time.Time { return h.now().UTC().Truncate(100 * time.Nanosecond) }

// wireTime formats an identity time as IoT Hub does: NeverTime for never.
func wireTime(t time.Time) string {
	if t.IsZero() {
		return registry.NeverTime
	}
	return t.UTC().Format(registry.TimeFormat)
}

// parseWireTime reads what wireTime wrote.
func parseWireTime(field, s string) (time.Time, error) {
	if s == "" || s == registry.NeverTime {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t, nil
}

// deviceRecord is what the devices bucket stores for one device; its
// shape is the stored format every version of the hub reads. record writes
// it by hand; this type is the reference it is checked against.
type deviceRecord struct {
	Device         registry.Device   `json:"device"`
	ETagSeq        int64             `json:"etagSeq"`
	ModelID        string            `json:"modelId"`
	Configurations map[string]string `json:"configurations,omitempty"`
}

// moduleRecord is what the modules bucket stores for one module.
type moduleRecord struct {
	Module         registry.Module   `json:"module"`
	ETagSeq        int64             `json:"etagSeq"`
	ModelID        string            `json:"modelId"`
	Configurations map[string]string `json:"configurations,omitempty"`
}

// record is the identity as its bucket stores it: what json.Marshal writes of a deviceRecord or moduleRecord
// (TestRecordMatchesEncodingJSON checks), by hand: a bulk load writes one
// per identity.
func (r *identity) record() (bucket string, value []byte, err error) {
	// A device with its two keys takes about 650 bytes: start where it
	// will not grow.
	return r.kind.bucket(), r.appendRecord(make([]byte, 0, 1024)), nil
}

// appendRecord appends the stored record to b.
func (r *identity) appendRecord(b []byte) []byte {
	if r.kind == moduleKind {
		m := r.toModule()
		b = m.AppendJSON(append(b, `{"module":`...))
	} else {
		d := r.toDevice()
		b = d.AppendJSON(append(b, `{"device":`...))
	}
	b = append(b, `,"etagSeq":`...)
	b = strconv.AppendInt(b, r.etagSeq, 10)
	b = append(b, `,"modelId":`...)
	b = jsonenc.AppendString(b, r.modelID)
	if len(r.configurations) > 0 {
		cfgs := make(map[string]any, len(r.configurations))
		for id, status := range r.configurations {
			cfgs[id] = status
		}
		b = append(b, `,"configurations":`...)
		b = jsonenc.AppendValue(b, cfgs)
	}
	return append(b, '}')
}

// storedRecord reads a record of either bucket: the device and module
// objects name their common fields alike, so one shape holds both.
type storedRecord struct {
	Device         *storedIdentity   `json:"device"`
	Module         *storedIdentity   `json:"module"`
	ETagSeq        int64             `json:"etagSeq"`
	ModelID        string            `json:"modelId"`
	Configurations map[string]string `json:"configurations"`
}

type storedIdentity struct {
	DeviceID                   string                  `json:"deviceId"`
	ModuleID                   string                  `json:"moduleId"`
	ManagedBy                  string                  `json:"managedBy"`
	GenerationID               string                  `json:"generationId"`
	ETag                       string                  `json:"etag"`
	ConnectionState            string                  `json:"connectionState"`
	Status                     string                  `json:"status"`
	StatusReason               *string                 `json:"statusReason"`
	ConnectionStateUpdatedTime string                  `json:"connectionStateUpdatedTime"`
	StatusUpdatedTime          string                  `json:"statusUpdatedTime"`
	LastActivityTime           string                  `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int                     `json:"cloudToDeviceMessageCount"`
	Authentication             registry.Authentication `json:"authentication"`
	Capabilities               registry.Capabilities   `json:"capabilities"`
	DeviceScope                string                  `json:"deviceScope"`
	ParentScopes               []string                `json:"parentScopes"`
}

// decodeIdentity reads a record of k's bucket, through scanRecord when it
// can (see identity_load.go) and encoding/json otherwise.
func decodeIdentity(k kind, value []byte) (identity, error) {
	rec, ok := scanRecord(value)
	if !ok {
		rec = storedRecord{}
		if err := json.Unmarshal(value, &rec); err != nil {
			return identity{}, err
		}
	}
	return rec.identity(k)
}

// identity is the record as the hub keeps it.
func (rec *storedRecord) identity(k kind) (identity, error) {
	s := rec.Device
	if k == moduleKind {
		s = rec.Module
	}
	if s == nil {
		return identity{}, fmt.Errorf("the record has no %s", k)
	}
	r := identity{
		kind:         k,
		deviceID:     s.DeviceID,
		moduleID:     s.ModuleID,
		generationID: s.GenerationID,
		etag:         s.ETag,
		etagSeq:      rec.ETagSeq,
		status:       s.Status,
		statusReason: s.StatusReason,
		connected:    s.ConnectionState == registry.Connected,
		c2dCount:     s.CloudToDeviceMessageCount,
		auth:         s.Authentication,
		modelID:      rec.ModelID,
		capabilities: s.Capabilities,
		deviceScope:  s.DeviceScope,
		parentScopes: s.ParentScopes,
		managedBy:    s.ManagedBy,

		configurations: rec.Configurations,
	}
	if k == moduleKind {
		r.status = registry.StatusEnabled
	}
	var err error
	if r.connectionUpdated, err = parseWireTime("connectionStateUpdatedTime", s.ConnectionStateUpdatedTime); err != nil {
		return identity{}, err
	}
	if r.statusUpdated, err = parseWireTime("statusUpdatedTime", s.StatusUpdatedTime); err != nil {
		return identity{}, err
	}
	if r.lastActivity, err = parseWireTime("lastActivityTime", s.LastActivityTime); err != nil {
		return identity{}, err
	}
	return r, nil
}
