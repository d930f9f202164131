package sas

import (
	"fmt"
	"strings"
)

// ConnectionString is an IoT Hub connection string (hub or device/module).
type ConnectionString struct {
	HostName              string
	DeviceID              string
	ModuleID              string
	SharedAccessKeyName   string
	SharedAccessKey       string
	SharedAccessSignature string
	GatewayHostName       string
}

// ParseConnectionString parses "Key=Value;..." as the SDKs do: only the first
// '=' splits, keys are case-sensitive, and unknown keys are refused.
func ParseConnectionString(s string) (ConnectionString, error) {
	var cs ConnectionString
	for _, part := range strings.Split(strings.TrimSpace(s), ";") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return ConnectionString{}, fmt.Errorf("connection string: %q is not Key=Value", part)
		}
		switch k {
		case "HostName":
			cs.HostName = v
		case "DeviceId":
			cs.DeviceID = v
		case "ModuleId":
			cs.ModuleID = v
		case "SharedAccessKeyName":
			cs.SharedAccessKeyName = v
		case "SharedAccessKey":
			cs.SharedAccessKey = v
		case "SharedAccessSignature":
			cs.SharedAccessSignature = v
		case "GatewayHostName":
			cs.GatewayHostName = v
		default:
			return ConnectionString{}, fmt.Errorf("connection string: unknown key %q", k)
		}
	}
	if cs.HostName == "" {
		return ConnectionString{}, fmt.Errorf("connection string: HostName is required")
	}
	return cs, nil
}

// String renders the connection string with its keys in the SDKs' usual order.
func (cs ConnectionString) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("HostName", cs.HostName)
	add("DeviceId", cs.DeviceID)
	add("ModuleId", cs.ModuleID)
	add("SharedAccessKeyName", cs.SharedAccessKeyName)
	add("SharedAccessKey", cs.SharedAccessKey)
	add("SharedAccessSignature", cs.SharedAccessSignature)
	add("GatewayHostName", cs.GatewayHostName)
	return strings.Join(parts, ";")
}
