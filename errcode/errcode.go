// Package errcode is the one catalogue of IoT Hub's wire-visible errors.
//
// Every error the emulator returns to a client, over REST or MQTT, is an
// *Error built from a Code in this catalogue, so the HTTP status, the numeric
// code and the name the official SDKs parse always agree.
package errcode

import (
	"errors"
	"fmt"
)

// Code is an IoT Hub error code: HTTP status × 1000 + sub-code.
type Code int

// The catalogue. Names are IoT Hub's own, as the SDKs map them to typed errors.
const (
	InvalidProtocolVersion                     Code = 400001
	ArgumentInvalid                            Code = 400004
	ArgumentNull                               Code = 400005
	IotHubFormatError                          Code = 400006
	DeviceDefinedMultipleTimes                 Code = 400011
	BulkRegistryOperationFailure               Code = 400013
	InvalidFileUploadCorrelationId             Code = 400015
	ConnectionForcefullyClosedOnNewConnection  Code = 400027
	ProvisioningUnauthorized                   Code = 401002 // Device Provisioning Service
	IotHubUnauthorized                         Code = 401003
	IotHubQuotaExceeded                        Code = 403002
	JobQuotaExceeded                           Code = 403003
	DeviceMaximumQueueDepthExceeded            Code = 403004
	DeviceMaximumActiveFileUploadLimitExceeded Code = 403006
	IotHubNotFound                             Code = 404000
	DeviceNotFound                             Code = 404001
	JobNotFound                                Code = 404002
	ModuleNotFound                             Code = 404010
	DeviceNotOnline                            Code = 404103
	DeviceConnectionClosedRemotely             Code = 404104
	ProvisioningNotFound                       Code = 404201 // Device Provisioning Service
	DeviceAlreadyExists                        Code = 409001
	ProvisioningConflict                       Code = 409201 // Device Provisioning Service
	ModuleAlreadyExistsOnDevice                Code = 409301
	PreconditionFailed                         Code = 412001
	DeviceMessageLockLost                      Code = 412002
	MessageTooLarge                            Code = 413001
	TooManyDevices                             Code = 413002
	TooManyModulesOnDevice                     Code = 413003
	ThrottlingException                        Code = 429001
	ServerError                                Code = 500001
	ServiceUnavailable                         Code = 503001
	GatewayTimeout                             Code = 504101
)

var names = map[Code]string{
	InvalidProtocolVersion:                     "InvalidProtocolVersion",
	ArgumentInvalid:                            "ArgumentInvalid",
	ArgumentNull:                               "ArgumentNull",
	IotHubFormatError:                          "IotHubFormatError",
	DeviceDefinedMultipleTimes:                 "DeviceDefinedMultipleTimes",
	BulkRegistryOperationFailure:               "BulkRegistryOperationFailure",
	InvalidFileUploadCorrelationId:             "InvalidFileUploadCorrelationId",
	ConnectionForcefullyClosedOnNewConnection:  "ConnectionForcefullyClosedOnNewConnection",
	ProvisioningUnauthorized:                   "ProvisioningUnauthorized",
	IotHubUnauthorized:                         "IotHubUnauthorized",
	IotHubQuotaExceeded:                        "IotHubQuotaExceeded",
	JobQuotaExceeded:                           "JobQuotaExceeded",
	DeviceMaximumQueueDepthExceeded:            "DeviceMaximumQueueDepthExceeded",
	DeviceMaximumActiveFileUploadLimitExceeded: "DeviceMaximumActiveFileUploadLimitExceeded",
	IotHubNotFound:                             "IotHubNotFound",
	DeviceNotFound:                             "DeviceNotFound",
	JobNotFound:                                "JobNotFound",
	ModuleNotFound:                             "ModuleNotFound",
	DeviceNotOnline:                            "DeviceNotOnline",
	DeviceConnectionClosedRemotely:             "DeviceConnectionClosedRemotely",
	ProvisioningNotFound:                       "ProvisioningNotFound",
	DeviceAlreadyExists:                        "DeviceAlreadyExists",
	ProvisioningConflict:                       "ProvisioningConflict",
	ModuleAlreadyExistsOnDevice:                "ModuleAlreadyExistsOnDevice",
	PreconditionFailed:                         "PreconditionFailed",
	DeviceMessageLockLost:                      "DeviceMessageLockLost",
	MessageTooLarge:                            "MessageTooLarge",
	TooManyDevices:                             "TooManyDevices",
	TooManyModulesOnDevice:                     "TooManyModulesOnDevice",
	ThrottlingException:                        "ThrottlingException",
	ServerError:                                "ServerError",
	ServiceUnavailable:                         "ServiceUnavailable",
	GatewayTimeout:                             "GatewayTimeout",
}

// Name is the code's IoT Hub name, as sent in "ErrorCode:{Name}" and the
// iothub-errorcode header.
func (c Code) Name() string {
	if n, ok := names[c]; ok {
		return n
	}
	return "ServerError"
}

// HTTPStatus is the HTTP status the code travels with.
func (c Code) HTTPStatus() int { return int(c) / 1000 }

func (c Code) String() string { return fmt.Sprintf("%d %s", int(c), c.Name()) }

// Error makes a Code an error, so it can be the target of errors.Is:
// errors.Is(err, errcode.DeviceNotFound) holds for any *Error with that code
// in err's chain.
func (c Code) Error() string { return c.String() }

// Error is a wire-visible IoT Hub error.
type Error struct {
	Code    Code
	Message string // human text, safe to show the client
	Err     error  // optional cause, never shown on the wire
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code.Name(), e.Message, e.Err)
	}
	return e.Code.Name() + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches a Code target equal to the error's code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// New returns an *Error with a formatted message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error carrying cause as its (hidden) reason.
func Wrap(c Code, cause error, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...), Err: cause}
}

// From finds the *Error in err's chain, or turns err into a ServerError whose
// message does not leak internals.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: ServerError, Message: "The server encountered an internal error.", Err: err}
}

// Is reports whether err carries code c; it is errors.Is(err, c).
func Is(err error, c Code) bool { return errors.Is(err, c) }
