package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// MethodInvoker reaches a connected device or module with a direct method
// call: the one request/response that crosses from the service API to the
// device protocol.
type MethodInvoker interface {
	InvokeMethod(ctx context.Context, deviceID, moduleID, name string, payload []byte, connectTimeout, responseTimeout time.Duration) (status int, body []byte, err error)
}

// IoT Hub's direct-method limits.
const (
	defaultResponseTimeout = 30
	minResponseTimeout     = 5
	maxResponseTimeout     = 300
	maxConnectTimeout      = 300
	maxMethodPayload       = 128 * 1024
)

// MethodRequest is the body of POST /twins/{id}[/modules/{mid}]/methods.
type MethodRequest struct {
	MethodName               string          `json:"methodName"`
	Payload                  json.RawMessage `json:"payload"`
	ResponseTimeoutInSeconds *int            `json:"responseTimeoutInSeconds"`
	ConnectTimeoutInSeconds  *int            `json:"connectTimeoutInSeconds"`
}

// MethodResult is what the caller gets: the device's status and payload.
type MethodResult struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
}

// InvokeMethod validates a direct method request and calls the device.
func (h *Hub) InvokeMethod(ctx context.Context, deviceID, moduleID string, body []byte) (MethodResult, error) {
	req, err := parseMethodRequest(body)
	if err != nil {
		return MethodResult{}, err
	}
	e, err := h.lookup(deviceID, moduleID)
	if err != nil {
		return MethodResult{}, err
	}
	if e.status != registry.StatusEnabled { // a module is always enabled
		return MethodResult{}, errcode.New(errcode.DeviceNotOnline, "Device %s is disabled.", deviceID)
	}
	status, resp, err := h.devices.InvokeMethod(ctx, deviceID, moduleID, req.MethodName, req.Payload,
		time.Duration(*req.ConnectTimeoutInSeconds)*time.Second, time.Duration(*req.ResponseTimeoutInSeconds)*time.Second)
	if err != nil {
		h.stats.methodCalls.Inc(errcode.From(err).Code.Name())
		return MethodResult{}, err
	}
	h.stats.methodCalls.Inc(strconv.Itoa(status))
	h.log.Debug("direct method", "device", deviceID, "module", moduleID, "method", req.MethodName, "status", status)
	return MethodResult{Status: status, Payload: responsePayload(resp)}, nil
}

func parseMethodRequest(body []byte) (MethodRequest, error) {
	var req MethodRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, errcode.New(errcode.ArgumentNull, "The request body is empty; a methodName is required.")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, errcode.New(errcode.ArgumentInvalid, "The request body is not a valid method invocation.")
	}
	if req.MethodName == "" {
		return req, errcode.New(errcode.ArgumentNull, "methodName is required.")
	}
	if len(req.Payload) > maxMethodPayload {
		return req, errcode.New(errcode.ArgumentInvalid, "The method payload is larger than %d bytes.", maxMethodPayload)
	}
	if len(req.Payload) == 0 {
		req.Payload = json.RawMessage("null")
	}
	if req.ResponseTimeoutInSeconds == nil {
		v := defaultResponseTimeout
		req.ResponseTimeoutInSeconds = &v
	}
	if req.ConnectTimeoutInSeconds == nil {
		v := 0
		req.ConnectTimeoutInSeconds = &v
	}
	if r := *req.ResponseTimeoutInSeconds; r < minResponseTimeout || r > maxResponseTimeout {
		return req, errcode.New(errcode.ArgumentInvalid, "responseTimeoutInSeconds must be between %d and %d, not %d.", minResponseTimeout, maxResponseTimeout, r)
	}
	if c := *req.ConnectTimeoutInSeconds; c < 0 || c > maxConnectTimeout {
		return req, errcode.New(errcode.ArgumentInvalid, "connectTimeoutInSeconds must be between 0 and %d, not %d.", maxConnectTimeout, c)
	}
	return req, nil
}

// responsePayload turns the device's response body into the result's
// payload: empty is null, JSON is kept, anything else becomes a string.
func responsePayload(b []byte) json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}
