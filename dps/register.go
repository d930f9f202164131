package dps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
	"github.com/iothub-emulator/iothub-emulator/jsontext"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// maxRegisterBody bounds a register request; DPS limits the custom
// payload far below this.
const maxRegisterBody = 64 << 10

// registerBody is what a device sends to register.
type registerBody struct {
	RegistrationID string          `json:"registrationId"`
	Payload        json.RawMessage `json:"payload"`
}

// parseRegisterBody checks a register request body; an empty body is an
// empty request.
func parseRegisterBody(registrationID string, body []byte) (registerBody, error) {
	var rb registerBody
	if len(bytes.TrimSpace(body)) == 0 {
		return rb, nil
	}
	if len(body) > maxRegisterBody {
		return rb, badRequest("The registration request is larger than %d bytes.", maxRegisterBody)
	}
	if err := jsontext.Check(body); err != nil {
		return rb, badRequest("The registration request is not valid JSON text: %v", err)
	}
	if err := json.Unmarshal(body, &rb); err != nil {
		return rb, badRequest("The registration request is not a JSON object with registrationId and payload: %v", err)
	}
	if rb.RegistrationID != "" && !strings.EqualFold(rb.RegistrationID, registrationID) {
		return rb, badRequest("The request's registrationId '%s' is not the '%s' the device authenticated as.", rb.RegistrationID, registrationID)
	}
	if bytes.Equal(bytes.TrimSpace(rb.Payload), []byte("null")) {
		rb.Payload = nil
	}
	return rb, nil
}

// Register registers a device: it authenticates the credential, assigns
// the device to the hub (creating or updating it there with the
// enrollment's credentials and, on its first assignment, its initial twin)
// and records the registration state, durably, before answering. The
// answer is the operation as DPS first reports it, "assigning"; its
// outcome is read with OperationStatus. A refused credential or a bad body
// is an error and changes nothing; a disabled enrollment or a failed
// assignment is recorded in the registration state.
func (s *Service) Register(ctx context.Context, idScope, registrationID string, c Credential, body []byte) (Operation, error) {
	rb, err := parseRegisterBody(registrationID, body)
	if err != nil {
		return Operation{}, err
	}
	mu := s.regLock(registrationID)
	mu.Lock()
	defer mu.Unlock()
	m, err := s.authenticate(idScope, registrationID, c)
	if err != nil {
		return Operation{}, err
	}
	s.mu.RLock()
	prev := s.records[key(registrationID)]
	s.mu.RUnlock()

	now := s.stamp()
	r := &record{OperationID: newOperationID()}
	if prev != nil {
		r.Assigned = prev.Assigned
		r.State.CreatedDateTimeUTC = prev.State.CreatedDateTimeUTC
	} else {
		r.State.CreatedDateTimeUTC = now
	}
	st := &r.State
	st.RegistrationID = registrationID
	st.LastUpdatedDateTimeUTC = now
	st.ETag = newETag()
	st.Payload = rb.Payload
	enr := m.enrollment
	if m.group != nil {
		enr = m.group
		r.Group = m.group.EnrollmentGroupID
	}
	att := &RegistrationAttestation{EnrollmentGroupID: r.Group}
	if m.method == AttestX509 {
		st.X509 = att
	} else {
		st.SymmetricKey = att
	}

	switch {
	case !enr.enabled() || (m.enrollment == nil && m.group != nil && !m.group.enabled()):
		st.Status = RegDisabled
		st.ErrorCode = int(errcode.ProvisioningUnauthorized)
		st.ErrorMessage = fmt.Sprintf("The %s '%s' is disabled.", map[bool]string{true: "enrollment group", false: "enrollment"}[m.group != nil], enr.id())
	case prev != nil && prev.Assigned && !enr.ReprovisionPolicy.updateHub():
		// The device keeps its assignment and its data untouched.
		st.Status, st.Substatus = RegAssigned, prev.State.Substatus
		st.AssignedHub, st.DeviceID = prev.State.AssignedHub, prev.State.DeviceID
	default:
		if err := s.assign(ctx, r, m, enr, prev); err != nil {
			return Operation{}, err
		}
	}
	if err := s.saveRecord(ctx, r); err != nil {
		return Operation{}, err
	}
	s.log.Info("dps: device registered", "registration", registrationID, "status", st.Status,
		"device", st.DeviceID, "group", r.Group, "attestation", m.method)
	return Operation{OperationID: r.OperationID, Status: RegAssigning}, nil
}

// assign provisions the device in the hub and fills in the state. A hub
// that cannot persist the device is an error (nothing is recorded, the
// device may retry); one that refuses it is a failed registration.
func (s *Service) assign(ctx context.Context, r *record, m match, enr *Enrollment, prev *record) error {
	st := &r.State
	deviceID := st.RegistrationID
	if m.enrollment != nil && m.enrollment.DeviceID != "" {
		deviceID = m.enrollment.DeviceID
	}
	p := hub.Provisioning{DeviceID: deviceID}
	if enr.Capabilities != nil {
		p.Capabilities.IotEdge = enr.Capabilities.IoTEdge
	}
	switch m.method {
	case AttestSymmetricKey:
		keys := m.keys
		p.Auth = registry.Authentication{Type: registry.AuthSAS, SymmetricKey: &keys}
	case AttestX509:
		p.Auth = registry.Authentication{Type: registry.AuthSelfSigned, X509Thumbprint: x509Thumbprints(m, enr)}
	}
	twinBody, err := enr.InitialTwin.body()
	if err != nil {
		return err
	}
	reassigning := prev != nil && prev.Assigned
	p.ResetTwin = !reassigning || !enr.ReprovisionPolicy.migrate()
	if twinBody == nil && reassigning && p.ResetTwin {
		// Resetting the device's data with no initial twin empties it: the
		// hub applies only a twin it is given.
		twinBody = []byte(`{"tags":{},"properties":{"desired":{}}}`)
	}
	p.InitialTwin = twinBody

	created, err := s.hub.Provision(ctx, p)
	if err != nil {
		e := errcode.From(err)
		if e.Code == errcode.ServiceUnavailable || e.Code == errcode.ServerError {
			return err
		}
		st.Status = RegFailed
		st.ErrorCode = int(e.Code)
		st.ErrorMessage = e.Message
		return nil
	}
	r.Assigned = true
	st.Status, st.AssignedHub, st.DeviceID = RegAssigned, s.hub.HostName(), deviceID
	switch {
	case !reassigning:
		st.Substatus = SubInitialAssignment
	case enr.ReprovisionPolicy.migrate():
		st.Substatus = SubDeviceDataMigrated
	default:
		st.Substatus = SubDeviceDataReset
	}
	s.log.Debug("dps: device assigned", "device", deviceID, "created", created, "substatus", st.Substatus)
	return nil
}

// x509Thumbprints are the thumbprints the hub's device gets: an individual
// enrollment's enrolled certificates, or, for a group, the certificate the
// device registered with (the hub then knows the device as self-signed by
// that certificate, so the device connects with it unchanged).
func x509Thumbprints(m match, enr *Enrollment) registry.X509Thumbprint {
	var tps []string
	if m.group == nil {
		for _, c := range enr.Attestation.certificates() {
			_, s256 := thumbprints(c)
			tps = append(tps, s256)
		}
	} else {
		_, s256 := thumbprints(m.leaf)
		tps = append(tps, s256)
	}
	var t registry.X509Thumbprint
	if len(tps) > 0 {
		t.PrimaryThumbprint = &tps[0]
	}
	if len(tps) > 1 {
		t.SecondaryThumbprint = &tps[1]
	}
	return t
}

func (s *Service) saveRecord(ctx context.Context, r *record) error {
	value, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("dps: encode registration: %w", err)
	}
	k := key(r.State.RegistrationID)
	if err := s.store.Apply(ctx, store.Op{Bucket: store.Registrations, Key: k, Value: value}); err != nil {
		return s.storeErr(err)
	}
	s.mu.Lock()
	s.records[k] = r
	s.mu.Unlock()
	return nil
}

// newOperationID is an operation id in the shape DPS gives them.
func newOperationID() string { return "4." + randomHex(8) + "." + randomHex(16) }

// OperationStatus answers a device's poll of a register operation, with
// the same credential it registered with.
func (s *Service) OperationStatus(idScope, registrationID, operationID string, c Credential) (Operation, error) {
	if _, err := s.authenticate(idScope, registrationID, c); err != nil {
		return Operation{}, err
	}
	s.mu.RLock()
	r := s.records[key(registrationID)]
	s.mu.RUnlock()
	if r == nil || r.OperationID != operationID {
		return Operation{}, notFound("registration operation", operationID)
	}
	st := r.State
	return Operation{OperationID: r.OperationID, Status: st.Status, RegistrationState: &st}, nil
}
