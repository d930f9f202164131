package registry

import (
	"encoding/json"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// MaxModulesPerDevice is IoT Hub's limit.
const MaxModulesPerDevice = 50

// Module is a module identity as the REST API returns it.
type Module struct {
	ModuleID                   string         `json:"moduleId"`
	ManagedBy                  string         `json:"managedBy,omitempty"`
	DeviceID                   string         `json:"deviceId"`
	GenerationID               string         `json:"generationId"`
	ETag                       string         `json:"etag"`
	ConnectionState            string         `json:"connectionState"`
	ConnectionStateUpdatedTime string         `json:"connectionStateUpdatedTime"`
	LastActivityTime           string         `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int            `json:"cloudToDeviceMessageCount"`
	Authentication             Authentication `json:"authentication"`
}

// ModuleInput is what a PUT /devices/{id}/modules/{mid} body may set.
type ModuleInput struct {
	ModuleID       string          `json:"moduleId"`
	DeviceID       string          `json:"deviceId"`
	ManagedBy      string          `json:"managedBy"`
	Authentication *Authentication `json:"authentication"`
}

// ParseModuleInput decodes and validates a module body for the URL's ids.
func ParseModuleInput(deviceID, moduleID string, body []byte) (ModuleInput, error) {
	var in ModuleInput
	if len(strings.TrimSpace(string(body))) == 0 {
		return in, errcode.New(errcode.ArgumentNull, "The request body is empty; a module identity is required.")
	}
	var w struct {
		ModuleInput
		Authentication *authInput `json:"authentication"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return in, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body is not a valid module identity: %s", jsonProblem(err))
	}
	in = w.ModuleInput
	in.Authentication = w.Authentication.authentication()
	return CheckModuleInput(deviceID, moduleID, in)
}

// CheckModuleInput is CheckDeviceInput for a module.
func CheckModuleInput(deviceID, moduleID string, in ModuleInput) (ModuleInput, error) {
	if in.ModuleID == "" {
		in.ModuleID = moduleID
	}
	if in.DeviceID == "" {
		in.DeviceID = deviceID
	}
	if in.ModuleID != moduleID || in.DeviceID != deviceID {
		return in, errcode.New(errcode.ArgumentInvalid, "The deviceId/moduleId %q/%q in the body do not match %q/%q in the URL.", in.DeviceID, in.ModuleID, deviceID, moduleID)
	}
	if err := normalizeAuth(&in.Authentication); err != nil {
		return in, err
	}
	return in, nil
}
