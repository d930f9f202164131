package errcode

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// restBody is the body shape the official SDKs parse: Node splits Message on
// ';' and reads the name after "ErrorCode:", C# cross-checks it against the
// iothub-errorcode header.
type restBody struct {
	Message          string `json:"Message"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

// RESTBody renders e as IoT Hub's REST error body.
func (e *Error) RESTBody(now time.Time) []byte {
	b, _ := json.Marshal(restBody{
		Message:          "ErrorCode:" + e.Code.Name() + ";" + e.Message,
		ExceptionMessage: "Tracking ID:" + trackingID() + "-G:0-TimeStamp:" + now.UTC().Format("01/02/2006 15:04:05"),
	})
	return b
}

// mqttBody is the JSON body of an MQTT twin error response; Node ignores the
// status in the topic and fails the request only when errorCode is present.
type mqttBody struct {
	ErrorCode    int    `json:"errorCode"`
	TrackingID   string `json:"trackingId"`
	Message      string `json:"message"`
	TimestampUTC string `json:"timestampUtc"`
}

// MQTTBody renders e as the JSON body of an MQTT error response.
func (e *Error) MQTTBody(now time.Time) []byte {
	b, _ := json.Marshal(mqttBody{
		ErrorCode:    int(e.Code),
		TrackingID:   trackingID(),
		Message:      e.Message,
		TimestampUTC: now.UTC().Format("2006-01-02T15:04:05.0000000Z"),
	})
	return b
}

// ProvisioningBody renders e as the Device Provisioning Service's error
// body, on its REST APIs and its MQTT responses alike: the same shape as
// IoT Hub's MQTT error body.
func (e *Error) ProvisioningBody(now time.Time) []byte { return e.MQTTBody(now) }

func trackingID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AMQPCondition is the AMQP error condition e travels with on IoT Hub's
// AMQP links (C2D sends, CBS, the Event Hubs-compatible endpoint).
func (e *Error) AMQPCondition() string {
	switch e.Code {
	case DeviceMaximumQueueDepthExceeded, IotHubQuotaExceeded:
		return "amqp:resource-limit-exceeded"
	case ThrottlingException, ServiceUnavailable:
		return "com.microsoft:server-busy" // the SDKs retry it
	case GatewayTimeout:
		return "com.microsoft:timeout"
	}
	switch e.Code.HTTPStatus() {
	case 400:
		return "amqp:invalid-field"
	case 401:
		return "amqp:unauthorized-access"
	case 403:
		return "amqp:not-allowed"
	case 404:
		return "amqp:not-found"
	case 409:
		return "com.microsoft:entity-already-exists"
	case 412:
		return "amqp:precondition-failed"
	case 413:
		return "amqp:link:message-size-exceeded"
	}
	return "amqp:internal-error"
}

// AMQPDescription is the description of an AMQP error for e, in the form
// IoT Hub uses on every protocol: "ErrorCode:{Name};{message}".
func (e *Error) AMQPDescription() string {
	return "ErrorCode:" + e.Code.Name() + ";" + e.Message
}
