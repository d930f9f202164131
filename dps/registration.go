package dps

import "encoding/json"

// Registration statuses, as DPS reports them.
const (
	RegAssigned   = "assigned"
	RegAssigning  = "assigning"
	RegFailed     = "failed"
	RegDisabled   = "disabled"
	RegUnassigned = "unassigned"
)

// Substatuses of an assigned registration.
const (
	SubInitialAssignment  = "initialAssignment"
	SubDeviceDataMigrated = "deviceDataMigrated"
	SubDeviceDataReset    = "deviceDataReset"
)

// RegistrationState is a device registration state, as the service API
// and the device API return it.
type RegistrationState struct {
	RegistrationID         string          `json:"registrationId"`
	CreatedDateTimeUTC     string          `json:"createdDateTimeUtc,omitempty"`
	AssignedHub            string          `json:"assignedHub,omitempty"`
	DeviceID               string          `json:"deviceId,omitempty"`
	Status                 string          `json:"status"`
	Substatus              string          `json:"substatus,omitempty"`
	ErrorCode              int             `json:"errorCode,omitempty"`
	ErrorMessage           string          `json:"errorMessage,omitempty"`
	LastUpdatedDateTimeUTC string          `json:"lastUpdatedDateTimeUtc,omitempty"`
	ETag                   string          `json:"etag,omitempty"`
	Payload                json.RawMessage `json:"payload,omitempty"`

	// How the device attested, as the device API shows it.
	SymmetricKey *RegistrationAttestation `json:"symmetricKey,omitempty"`
	X509         *RegistrationAttestation `json:"x509,omitempty"`
}

// RegistrationAttestation names the enrollment group a registration came
// through (empty for an individual enrollment).
type RegistrationAttestation struct {
	EnrollmentGroupID string `json:"enrollmentGroupId,omitempty"`
}

// record is a registration state as stored: the state, and what the
// service needs beside it.
type record struct {
	State RegistrationState `json:"state"`
	// OperationID is the last register operation's id, so a device's poll
	// for it is answered after a restart too.
	OperationID string `json:"operationId"`
	// Group is the enrollment group the registration came through.
	Group string `json:"group,omitempty"`
	// Assigned is set once the device has been assigned at least once:
	// the initial twin is then applied only when the reprovision policy
	// resets the device's data.
	Assigned bool `json:"assigned,omitempty"`
}

// Operation is the answer to a register request or an operation status
// poll.
type Operation struct {
	OperationID       string             `json:"operationId"`
	Status            string             `json:"status"`
	RegistrationState *RegistrationState `json:"registrationState,omitempty"`
}
