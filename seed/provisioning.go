package seed

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/hub"
)

// The Device Provisioning Service's sections of a seed document:
//
//	x509CAs:          PEM text of CA certificates the hub trusts beside
//	                  --x509-ca (one or more certificates per entry)
//	enrollmentGroups: enrollment groups, in DPS's JSON shape
//	enrollments:      individual enrollments, in DPS's JSON shape
//
// An enrollment names itself (registrationId, or enrollmentGroupId for a
// group). As for identities, the document is the whole truth about a
// listed enrollment except its symmetric keys: a key left out is generated
// when the enrollment is created and kept afterwards. Read-only members
// (etag, timestamps, iotHubHostName, registrationState, certificate info)
// are taken and ignored. Nothing is ever deleted, and no CA is untrusted.

// readOnly are the enrollment members the service sets itself; a document
// may carry them (an SDK's dump does) but they never decide anything.
var readOnly = []string{"etag", "createdDateTimeUtc", "lastUpdatedDateTimeUtc", "iotHubHostName", "iotHubs", "registrationState"}

// prepareProvisioning checks and canonicalises the DPS sections of d into
// out, reporting each problem to p.
func prepareProvisioning(p *problems, d, out *Document) {
	for i, text := range d.X509CAs {
		certs, err := parseCAs(text)
		if err != nil {
			p.note("x509CAs[%d]: %v", i, err)
			continue
		}
		for _, c := range certs {
			out.X509CAs = append(out.X509CAs, encodePEM(c))
		}
	}
	out.EnrollmentGroups = prepareEnrollments(p, "enrollmentGroups", d.EnrollmentGroups, true)
	out.Enrollments = prepareEnrollments(p, "enrollments", d.Enrollments, false)
}

func prepareEnrollments(p *problems, section string, in []Properties, group bool) []Properties {
	var out []Properties
	seen := map[string]int{}
	for i, e := range in {
		id, err := enrollmentID(e, group)
		if err != nil {
			p.note("%s[%d]: %v", section, i, err)
			continue
		}
		if first, dup := seen[strings.ToLower(id)]; dup {
			p.note("%s[%d] (%s): the id is already used by %s[%d]", section, i, id, section, first)
			continue
		}
		seen[strings.ToLower(id)] = i
		c := canonicalEntry(e)
		body, err := json.Marshal(c)
		if err == nil {
			_, err = dps.CheckEnrollment(body, id, group)
		}
		if err != nil {
			p.note("%s[%d] (%s): %s", section, i, id, errcode.From(err).Message)
			continue
		}
		out = append(out, c)
	}
	return out
}

// enrollmentID is the id an entry names itself by.
func enrollmentID(e Properties, group bool) (string, error) {
	name := "registrationId"
	if group {
		name = "enrollmentGroupId"
	}
	id, ok := e[name].(string)
	if !ok || id == "" {
		return "", fmt.Errorf("%s is missing; an enrollment in a seed document names itself", name)
	}
	if err := dps.ValidateRegistrationID(name, id); err != nil {
		return "", fmt.Errorf("%s", errcode.From(err).Message)
	}
	return id, nil
}

// canonicalEntry is an entry without the read-only members, as a copy.
func canonicalEntry(e Properties) Properties {
	c := make(Properties, len(e))
	for k, v := range e {
		c[k] = v
	}
	for _, k := range readOnly {
		delete(c, k)
	}
	return c
}

// parseCAs reads the CA certificates of one x509CAs entry.
func parseCAs(text string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(strings.TrimSpace(text))
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("not PEM text of certificates")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM block %q; only CERTIFICATE blocks are taken", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a certificate that cannot be read: %w", err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("the certificate %q is not a CA certificate (basic constraints CA:TRUE)", c.Subject.String())
		}
		certs = append(certs, c)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate")
	}
	return certs, nil
}

func encodePEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// hasProvisioning reports whether d has enrollments or groups, which need
// a provisioning service.
func (d *Document) hasProvisioning() bool {
	return len(d.Enrollments) > 0 || len(d.EnrollmentGroups) > 0
}

var errNoProvisioning = invalidDoc("the document has enrollments or enrollmentGroups, but this emulator runs no Device Provisioning Service to apply them to")

// applyCAs trusts the document's CAs; each is named "x509CA <subject>".
func applyCAs(h *hub.Hub, d *Document, res *Result) error {
	if len(d.X509CAs) == 0 {
		return nil
	}
	have := h.AddedCAs()
	var certs []*x509.Certificate
	for _, text := range d.X509CAs {
		cs, err := parseCAs(text)
		if err != nil {
			return invalidDoc("x509CAs: %v", err)
		}
		certs = append(certs, cs...)
	}
	if _, err := h.TrustCAs(certs); err != nil {
		return errcode.Wrap(errcode.ArgumentInvalid, err, "Trusting the seed document's x509CAs failed: %v", err)
	}
	for _, c := range certs {
		o := created
		for _, x := range have {
			if x.Equal(c) {
				o = unchanged
			}
		}
		res.add("x509CA "+c.Subject.String(), o)
	}
	return nil
}

// applyEnrollments writes the document's groups, then its individual
// enrollments, where they differ from the service's.
func applyEnrollments(ctx context.Context, p *dps.Service, d *Document, res *Result) error {
	for _, s := range []struct {
		entries []Properties
		group   bool
		name    string
	}{{d.EnrollmentGroups, true, "enrollmentGroup"}, {d.Enrollments, false, "enrollment"}} {
		for _, e := range s.entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			id, err := enrollmentID(e, s.group)
			if err != nil {
				return invalidDoc("%v", err)
			}
			o, err := applyEnrollment(ctx, p, id, e, s.group)
			if err != nil {
				return applyError(s.name+" "+id, err)
			}
			res.add(s.name+" "+id, o)
		}
	}
	return nil
}

func applyEnrollment(ctx context.Context, p *dps.Service, id string, entry Properties, group bool) (outcome, error) {
	cur, exists, err := p.StoredEnrollment(id, group)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(entry)
	if err != nil {
		return 0, fmt.Errorf("encode enrollment: %w", err)
	}
	var in dps.Enrollment
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, errcode.Wrap(errcode.ArgumentInvalid, err, "The enrollment cannot be read.")
	}
	keepKeys(&in, cur)
	if body, err = json.Marshal(&in); err != nil {
		return 0, fmt.Errorf("encode enrollment: %w", err)
	}
	// Completed once, so the keys generated here are the ones written.
	want, err := dps.CheckEnrollment(body, id, group)
	if err != nil {
		return 0, err
	}
	if exists && sameEnrollment(cur, want) {
		return unchanged, nil
	}
	if body, err = json.Marshal(want); err != nil {
		return 0, fmt.Errorf("encode enrollment: %w", err)
	}
	put, ifMatch := p.PutEnrollment, ""
	if group {
		put = p.PutEnrollmentGroup
	}
	if exists {
		// Conditional on what was read: a concurrent change is reported, not overwritten.
		ifMatch = cur.ETag
	}
	if _, err := put(ctx, id, body, ifMatch); err != nil {
		return 0, err
	}
	if exists {
		return updated, nil
	}
	return created, nil
}

// keepKeys fills the symmetric keys the document leaves out with the
// current enrollment's, so that applying a document without keys again
// keeps every device's key.
func keepKeys(in, cur *dps.Enrollment) {
	if cur == nil || in.Attestation == nil || in.Attestation.Type != dps.AttestSymmetricKey ||
		cur.Attestation == nil || cur.Attestation.SymmetricKey == nil {
		return
	}
	if in.Attestation.SymmetricKey == nil {
		in.Attestation.SymmetricKey = &dps.SymmetricKey{}
	}
	k, c := in.Attestation.SymmetricKey, cur.Attestation.SymmetricKey
	if k.PrimaryKey == "" {
		k.PrimaryKey = c.PrimaryKey
	}
	if k.SecondaryKey == "" {
		k.SecondaryKey = c.SecondaryKey
	}
}

// sameEnrollment reports whether two enrollments agree on everything a
// document decides.
func sameEnrollment(a, b *dps.Enrollment) bool {
	ca, err1 := exportEntry(a)
	cb, err2 := exportEntry(b)
	if err1 != nil || err2 != nil {
		return false
	}
	x, _ := json.Marshal(ca)
	y, _ := json.Marshal(cb)
	return string(x) == string(y)
}

// exportEntry is an enrollment as a document entry: keys and certificates
// in full, without what the service sets itself or derives (certificate
// info).
func exportEntry(e *dps.Enrollment) (Properties, error) {
	c := *e
	c.RegistrationState = nil
	if a := e.Attestation; a != nil && a.X509 != nil {
		ac, xc := *a, *a.X509
		strip := func(set *dps.X509Certificates) *dps.X509Certificates {
			if set == nil {
				return nil
			}
			s := *set
			for _, p := range []**dps.X509Certificate{&s.Primary, &s.Secondary} {
				if *p != nil {
					*p = &dps.X509Certificate{Certificate: (*p).Certificate}
				}
			}
			return &s
		}
		xc.ClientCertificates, xc.SigningCertificates = strip(xc.ClientCertificates), strip(xc.SigningCertificates)
		ac.X509 = &xc
		c.Attestation = &ac
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode enrollment: %w", err)
	}
	var p Properties
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode enrollment: %w", err)
	}
	return canonicalEntry(p), nil
}

// exportProvisioning adds the hub's added CAs and, with a provisioning
// service, its groups and enrollments to d.
func exportProvisioning(h *hub.Hub, p *dps.Service, d *Document) error {
	for _, c := range h.AddedCAs() {
		d.X509CAs = append(d.X509CAs, encodePEM(c))
	}
	if p == nil {
		return nil
	}
	for _, group := range []bool{true, false} {
		list, err := p.StoredEnrollments(group)
		if err != nil {
			return err
		}
		for _, e := range list {
			entry, err := exportEntry(e)
			if err != nil {
				return err
			}
			if group {
				d.EnrollmentGroups = append(d.EnrollmentGroups, entry)
			} else {
				d.Enrollments = append(d.Enrollments, entry)
			}
		}
	}
	return nil
}
