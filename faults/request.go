package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// maxRequestBody bounds an admin request body; a fault is a few fields.
const maxRequestBody = 64 << 10

// addRequest is the body of an admin request that adds a fault: the fault,
// its target and its timing. Durations are seconds, decimals allowed.
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

// Submit carries out the body of an admin API request that adds a fault:
// one JSON object with fields fault, deviceId, moduleId, operation,
// connackCode, delaySeconds, startInSeconds and durationSeconds (seconds,
// decimals allowed). {"fault":"drop","deviceId":...} drops the identity's
// connection now, through DropConnection, and reports dropped; any other
// fault is added and returned. Errors are *errcode.Error, 400
// ArgumentInvalid for a bad body (413 MessageTooLarge over 64 KB); nothing
// is changed then.
func (f *Injector) Submit(body io.Reader) (ft Fault, dropped bool, err error) {
	req, err := decodeAdd(body)
	if err != nil {
		return Fault{}, false, err
	}
	if strings.EqualFold(req.Fault, string(KindDrop)) {
		if err := req.dropOnly(); err != nil {
			return Fault{}, false, err
		}
		f.DropConnection(req.DeviceID, req.ModuleID)
		return Fault{}, true, nil
	}
	spec, err := req.spec()
	if err != nil {
		return Fault{}, false, err
	}
	if ft, err = f.Add(spec); err != nil {
		return Fault{}, false, err
	}
	return ft, false, nil
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
