package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// maxRequestBody bounds an admin request body; a fault is a few fields.
const maxRequestBody = 64 << 10

// MountPath is where the emulator serves the admin API.
const MountPath = "/emulator/faults"

// addRequest is the body of POST: the fault, its target and its timing.
// Durations are seconds, decimals allowed.
type addRequest struct {
	Fault           string  `json:"fault"`
	DeviceID        string  `json:"deviceId"`
	ModuleID        string  `json:"moduleId"`
	Operation       string  `json:"operation"`
	ConnackCode     int     `json:"connackCode"`
	DelaySeconds    float64 `json:"delaySeconds"`
	StartInSeconds  float64 `json:"startInSeconds"`
	DurationSeconds float64 `json:"durationSeconds"`
}

type handler struct {
	f    *Injector
	drop func(deviceID, moduleID string)
}

// NewHandler serves the admin API of f. Paths are relative to the mount
// point (MountPath, stripped or not):
//
//	GET    /      the faults in effect or scheduled: a JSON array
//	POST   /      add a fault (body: addRequest's fields); 201 with the fault.
//	              {"fault":"drop","deviceId":...} drops the connection now: 204
//	DELETE /      remove every fault: 204
//	GET    /{id}  one fault
//	DELETE /{id}  remove one fault: 204
//
// dropper ends an identity's connection (the broker's Disconnect); nil means
// f.DropConnection. Errors are IoT Hub REST errors: 400 ArgumentInvalid for
// a bad body (nothing is changed then), 404 IotHubNotFound otherwise.
// Authentication is the mounting router's job.
func NewHandler(f *Injector, dropper func(deviceID, moduleID string)) http.Handler {
	if dropper == nil {
		dropper = f.DropConnection
	}
	return &handler{f: f, drop: dropper}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, MountPath), "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		h.writeJSON(w, http.StatusOK, h.f.Active())
	case rest == "" && r.Method == http.MethodPost:
		h.add(w, r)
	case rest == "" && r.Method == http.MethodDelete:
		h.f.Clear()
		w.WriteHeader(http.StatusNoContent)
	case rest != "" && !strings.Contains(rest, "/") && r.Method == http.MethodGet:
		for _, ft := range h.f.Active() {
			if ft.ID == rest {
				h.writeJSON(w, http.StatusOK, ft)
				return
			}
		}
		h.notFound(w, rest)
	case rest != "" && !strings.Contains(rest, "/") && r.Method == http.MethodDelete:
		if !h.f.Remove(rest) {
			h.notFound(w, rest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, errcode.New(errcode.IotHubNotFound, "%s %s is not an operation of the fault-injection API.", r.Method, r.URL.Path), h.f.now())
	}
}

func (h *handler) notFound(w http.ResponseWriter, id string) {
	writeError(w, errcode.New(errcode.IotHubNotFound, "No fault %q is in effect or scheduled.", id), h.f.now())
}

func (h *handler) add(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAdd(r.Body)
	if err != nil {
		writeError(w, err, h.f.now())
		return
	}
	if strings.EqualFold(req.Fault, string(KindDrop)) {
		if err := req.dropOnly(); err != nil {
			writeError(w, err, h.f.now())
			return
		}
		h.drop(req.DeviceID, req.ModuleID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	spec, err := req.spec()
	if err != nil {
		writeError(w, err, h.f.now())
		return
	}
	ft, err := h.f.Add(spec)
	if err != nil {
		writeError(w, err, h.f.now())
		return
	}
	h.writeJSON(w, http.StatusCreated, ft)
}

func decodeAdd(body io.Reader) (addRequest, error) {
	raw, err := io.ReadAll(io.LimitReader(body, maxRequestBody+1))
	if err != nil {
		return addRequest{}, errcode.Wrap(errcode.ArgumentInvalid, err, "The request body could not be read.")
	}
	if len(raw) > maxRequestBody {
		return addRequest{}, errcode.New(errcode.MessageTooLarge, "The request body is larger than %d bytes.", maxRequestBody)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req addRequest
	if err := dec.Decode(&req); err != nil {
		return addRequest{}, invalid("The body must be one JSON object with fields fault, deviceId, moduleId, operation, connackCode, delaySeconds, startInSeconds, durationSeconds: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return addRequest{}, invalid("The body holds more than one JSON value.")
	}
	return req, nil
}

// jsonProblem words a decoding error without the decoder's package prefix.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "invalid JSON at byte " + strconv.FormatInt(syntax.Offset, 10)
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// dropOnly checks a drop request names an identity and nothing else.
func (req addRequest) dropOnly() error {
	if err := checkIdentity(req.DeviceID, req.ModuleID); err != nil {
		return err
	}
	if req.Operation != "" || req.ConnackCode != 0 || req.DelaySeconds != 0 || req.StartInSeconds != 0 || req.DurationSeconds != 0 {
		return invalid("A drop takes only deviceId and moduleId: it happens at once.")
	}
	return nil
}

// spec converts the request; Injector.Add validates the rest.
func (req addRequest) spec() (Spec, error) {
	s := Spec{DeviceID: req.DeviceID, ModuleID: req.ModuleID}
	for _, k := range []Kind{KindRefuseConnects, KindDelayTwin, KindThrottle, KindThrottleDevice, KindQuotaExceeded} {
		if strings.EqualFold(req.Fault, string(k)) {
			s.Kind = k
		}
	}
	if s.Kind == "" {
		s.Kind = Kind(req.Fault) // validate words the error
	}
	if req.Operation != "" {
		op, err := ParseOperation(req.Operation)
		if err != nil {
			return Spec{}, invalid("%s.", err.Error())
		}
		s.Operation = op
	}
	if req.ConnackCode < 0 || req.ConnackCode > 255 {
		return Spec{}, invalid("connackCode %d is not a CONNACK return code.", req.ConnackCode)
	}
	s.ConnackCode = byte(req.ConnackCode)
	var err error
	if s.Delay, err = seconds("delaySeconds", req.DelaySeconds); err != nil {
		return Spec{}, err
	}
	if s.StartIn, err = seconds("startInSeconds", req.StartInSeconds); err != nil {
		return Spec{}, err
	}
	if s.Duration, err = seconds("durationSeconds", req.DurationSeconds); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// seconds converts a JSON number of seconds, refusing what cannot be a
// duration before it could overflow one.
func seconds(name string, v float64) (time.Duration, error) {
	if v < 0 || v > MaxDuration.Seconds() {
		return 0, invalid("%s must be from 0 to %.0f.", name, MaxDuration.Seconds())
	}
	return time.Duration(v * float64(time.Second)), nil
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errcode.Wrap(errcode.ServerError, err, "The response could not be encoded."), h.f.now())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
