package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/iothub-emulator/iothub-emulator/digitaltwin"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// The digital twin routes (IoT Plug and Play) are views of the device twin
// and of direct methods: GET renders the twin, PATCH writes desired
// properties, and a command is the direct method "name" (or
// "component*name"), answered 200 with the device's payload and its status
// in x-ms-command-statuscode.

func (s *server) getDigitalTwin(w http.ResponseWriter, r *http.Request) {
	id, _, err := ids(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	view, err := s.hub.GetTwin(r.Context(), id, "")
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("ETag", quotedETag(view))
	s.writeJSON(w, http.StatusOK, digitaltwin.FromTwin(view))
}

func (s *server) patchDigitalTwin(w http.ResponseWriter, r *http.Request) {
	id, _, err := ids(r)
	if err == nil {
		err = s.patchDigitalTwinOf(w, r, id)
	}
	if err != nil {
		s.writeError(w, err)
	}
}

func (s *server) patchDigitalTwinOf(w http.ResponseWriter, r *http.Request, id string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	ops, err := digitaltwin.ParsePatch(body)
	if err != nil {
		return err
	}
	view, err := s.hub.GetTwin(r.Context(), id, "")
	if err != nil {
		return err
	}
	patch, err := digitaltwin.DesiredPatch(view, ops)
	if err != nil {
		return err
	}
	twinBody, err := json.Marshal(map[string]any{"properties": map[string]any{"desired": patch}})
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode the desired patch")
	}
	next, err := s.hub.UpdateTwin(r.Context(), id, "", twinBody, ifMatch(r), false)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", quotedETag(next))
	w.Header().Set("Location", "/digitaltwins/"+url.PathEscape(id))
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// invokeCommand serves both command routes: the component, if the route
// names one, prefixes the method name as "component*command".
func (s *server) invokeCommand(w http.ResponseWriter, r *http.Request) {
	res, err := s.invokeCommandOf(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("x-ms-command-statuscode", strconv.Itoa(res.Status))
	w.Header().Set("x-ms-request-id", requestID())
	s.writeJSON(w, http.StatusOK, res.Payload)
}

func (s *server) invokeCommandOf(r *http.Request) (hub.MethodResult, error) {
	id, _, err := ids(r)
	if err != nil {
		return hub.MethodResult{}, err
	}
	name, err := param(r, "command")
	var comp string
	if err == nil {
		comp, err = param(r, "component")
	}
	if err != nil {
		return hub.MethodResult{}, err
	}
	if comp != "" {
		name = comp + "*" + name
	}
	req := map[string]any{"methodName": name}
	for param, field := range map[string]string{"connectTimeoutInSeconds": "connectTimeoutInSeconds", "responseTimeoutInSeconds": "responseTimeoutInSeconds"} {
		v := r.URL.Query().Get(param)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return hub.MethodResult{}, errcode.New(errcode.ArgumentInvalid, "%s must be an integer number of seconds, not %q.", param, v)
		}
		req[field] = n
	}
	body, err := readBody(r)
	if err != nil {
		return hub.MethodResult{}, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if !json.Valid(body) {
			return hub.MethodResult{}, errcode.New(errcode.ArgumentInvalid, "The command payload is not valid JSON.")
		}
		req["payload"] = json.RawMessage(body)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return hub.MethodResult{}, errcode.Wrap(errcode.ServerError, err, "could not encode the command")
	}
	return s.hub.InvokeMethod(r.Context(), id, "", b)
}

// quotedETag is a twin view's etag as an HTTP entity tag.
func quotedETag(view map[string]any) string {
	e, _ := view["etag"].(string)
	return `"` + e + `"`
}

// requestID is a fresh id for x-ms-request-id.
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
