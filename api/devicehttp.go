package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/faults"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/jsontext"
)

// The device-facing HTTPS endpoints, as azure-iot-device-http uses them,
// authorized by the device's own SAS token (or a DeviceConnect policy's):
//
//	POST   /devices/{id}/messages/events                       telemetry: one message, or a batch (Content-Type application/vnd.microsoft.iothub.json) → 204
//	GET    /devices/{id}/messages/devicebound                  the next cloud-to-device message, locked (200, lock token in ETag; 204 if none)
//	DELETE /devices/{id}/messages/devicebound/{lockToken}      complete it (204); with ?reject, reject it
//	POST   /devices/{id}/messages/devicebound/{lockToken}/abandon  abandon it (204)

// deviceRoutes are the rows of the device-facing endpoints; receiving and
// settling need the cloud-to-device queues.
func (s *server) deviceRoutes(opts Options) []route {
	rs := []route{
		{"POST", "/devices/{id}/messages/events", s.deviceEvents, asDevice, faults.D2CSends},
		{"POST", "/devices/{id}/modules/{mid}/messages/events", s.deviceEvents, asDevice, faults.D2CSends},
	}
	if opts.C2D != nil {
		rs = append(rs,
			route{"GET", "/devices/{id}/messages/devicebound", s.deviceReceive, asDevice, faults.C2DReceives},
			route{"DELETE", "/devices/{id}/messages/devicebound/{lockToken}", s.deviceSettle, asDevice, unthrottled},
			route{"POST", "/devices/{id}/messages/devicebound/{lockToken}/abandon", s.deviceAbandon, asDevice, unthrottled},
		)
	}
	return append(rs, s.fileUploadRoutes(opts)...)
}

// batchContentType marks a telemetry batch: a JSON array of
// {"body": base64, "properties": {name: value}}.
const batchContentType = "application/vnd.microsoft.iothub.json"

// appPropertyPrefix marks an application property among the HTTP headers
// (and in a batch item's properties).
const appPropertyPrefix = "iothub-app-"

// maxD2CRequestBody bounds a telemetry request: a 256 KB batch in base64
// with its JSON framing.
const maxD2CRequestBody = 512 * 1024

// d2cSystemHeaders maps the telemetry system-property headers to the keys
// of the MQTT property bag, which hub.Telemetry uses. iothub-to is absent:
// the SDK fills it with the request path, not with the message's to.
var d2cSystemHeaders = map[string]string{
	"iothub-messageid":         "mid",
	"iothub-correlationid":     "cid",
	"iothub-userid":            "uid",
	"iothub-expiry":            "exp",
	"iothub-contenttype":       "ct",
	"iothub-contentencoding":   "ce",
	"iothub-creation-time-utc": "ctime",
	"iothub-interface-id":      "ifid",
	"dt-subject":               "sub",
	"dt-dataschema":            "dataschema",
}

// authorizeDevice checks that the request's SAS token is the URL's
// device's (or module's), or a DeviceConnect policy's, as a device
// connection is checked. A token that cannot be checked against an
// identity (unknown or disabled) is unauthorized, so the answer does not
// tell a caller which ids exist.
func (s *server) authorizeDevice(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deviceID, moduleID, err := ids(r)
		if err == nil {
			_, err = s.hub.AuthenticateDevice(deviceID, moduleID, r.Header.Get("Authorization"))
		}
		if errcode.Is(err, errcode.DeviceNotFound) || errcode.Is(err, errcode.ModuleNotFound) {
			err = errcode.New(errcode.IotHubUnauthorized, "The SharedAccessSignature is not valid for this identity.")
		}
		if err != nil {
			s.writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) deviceEvents(w http.ResponseWriter, r *http.Request) {
	deviceID, moduleID, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxD2CRequestBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeError(w, errcode.New(errcode.MessageTooLarge, "The request body is larger than %d bytes.", maxD2CRequestBody))
		return
	}
	if err != nil {
		s.writeError(w, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read."))
		return
	}
	var msgs []hub.Telemetry
	if isBatch(r.Header.Get("Content-Type")) {
		msgs, err = ParseEventBatch(body)
	} else {
		msgs, err = []hub.Telemetry{telemetryOfHeaders(r.Header, body)}, nil
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	// A batch is metered as a whole, as IoT Hub does: refused before any
	// of it is kept.
	total := 0
	for _, m := range msgs {
		total += d2c.MeteredSize(m.Body, d2c.SystemProperties(m.SystemProperties), m.Properties)
	}
	if total > d2c.MaxMessageSize {
		s.writeError(w, errcode.New(errcode.MessageTooLarge, "The messages are %d bytes; IoT Hub accepts at most %d per request.", total, d2c.MaxMessageSize))
		return
	}
	for _, m := range msgs {
		if err := s.hub.ReceiveTelemetry(r.Context(), deviceID, moduleID, m); err != nil {
			s.writeError(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func isBatch(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && strings.EqualFold(mt, batchContentType)
}

// telemetryOfHeaders is a single message: the body as sent, system
// properties and iothub-app-* application properties from the headers.
func telemetryOfHeaders(h http.Header, body []byte) hub.Telemetry {
	t := hub.Telemetry{SystemProperties: map[string]string{}, Properties: map[string]string{}, Body: body}
	for name, vs := range h {
		if len(vs) == 0 {
			continue
		}
		addProperty(t, strings.ToLower(name), vs[0])
	}
	return t
}

// addProperty files one property under its system or application name;
// it reports whether the name is one of either.
func addProperty(t hub.Telemetry, name, value string) bool {
	if app, ok := strings.CutPrefix(name, appPropertyPrefix); ok && app != "" {
		t.Properties[app] = value
		return true
	}
	if key, ok := d2cSystemHeaders[name]; ok {
		t.SystemProperties[key] = value
		return true
	}
	return false
}

// eventBatchItem is one message of a telemetry batch.
type eventBatchItem struct {
	Body       *string           `json:"body"`
	Properties map[string]string `json:"properties"`
}

// ParseEventBatch decodes a telemetry batch: a non-empty JSON array of
// {"body": base64, "properties": {...}} whose property names are
// iothub-app-{name} or system-property headers.
func ParseEventBatch(body []byte) ([]hub.Telemetry, error) {
	if err := jsontext.Check(body); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The batch is not valid JSON text: %v.", err)
	}
	var items []eventBatchItem
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The batch must be a JSON array of {\"body\": base64, \"properties\": {...}}.")
	}
	if len(items) == 0 {
		return nil, errcode.New(errcode.ArgumentInvalid, "The batch holds no message.")
	}
	out := make([]hub.Telemetry, 0, len(items))
	for i, it := range items {
		if it.Body == nil {
			return nil, errcode.New(errcode.ArgumentNull, "Message %d of the batch has no body.", i)
		}
		b, err := base64.StdEncoding.DecodeString(*it.Body)
		if err != nil {
			return nil, errcode.New(errcode.ArgumentInvalid, "The body of message %d of the batch is not base64.", i)
		}
		t := hub.Telemetry{SystemProperties: map[string]string{}, Properties: map[string]string{}, Body: b}
		for k, v := range it.Properties {
			if !addProperty(t, strings.ToLower(k), v) {
				return nil, errcode.New(errcode.ArgumentInvalid, "Message %d of the batch has the property %q: application properties are named %s{name}.", i, k, appPropertyPrefix)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// deviceReceive hands the device its next cloud-to-device message, the
// message's properties in headers as IoT Hub sends them.
func (s *server) deviceReceive(w http.ResponseWriter, r *http.Request) {
	deviceID, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	m, ok, err := s.c2d.Receive(deviceID)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+m.LockToken+`"`)
	h.Set("iothub-messageid", m.MessageID)
	h.Set("iothub-to", "/devices/"+deviceID+"/messages/deviceBound")
	h.Set("iothub-sequencenumber", strconv.FormatInt(m.SequenceNumber, 10))
	h.Set("iothub-deliverycount", strconv.Itoa(m.DeliveryCount))
	h.Set("iothub-enqueuedtime", m.EnqueuedTime.UTC().Format(time.RFC3339Nano))
	h.Set("iothub-expiry", m.ExpiryTime.UTC().Format(time.RFC3339Nano))
	h.Set("iothub-ack", m.Ack)
	for name, v := range map[string]string{
		"iothub-correlationid": m.CorrelationID, "iothub-userid": m.UserID,
		"iothub-contenttype": m.ContentType, "iothub-contentencoding": m.ContentEncoding,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	for k, v := range m.Properties {
		h.Set(appPropertyPrefix+k, v)
	}
	ct := m.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(m.Body)
}

// deviceSettle completes (or, with ?reject, rejects) a received message.
func (s *server) deviceSettle(w http.ResponseWriter, r *http.Request) {
	deviceID, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	settle := s.c2d.Complete
	if r.URL.Query().Has("reject") {
		settle = s.c2d.Reject
	}
	if err := settle(r.Context(), deviceID, lockToken(r)); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) deviceAbandon(w http.ResponseWriter, r *http.Request) {
	deviceID, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if err := s.c2d.Abandon(r.Context(), deviceID, lockToken(r)); err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
