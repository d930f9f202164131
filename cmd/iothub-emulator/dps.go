package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/dps"
	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

// The verbs of "az iot dps" against the emulator's Device Provisioning
// Service, which the emulator serves on its REST endpoint. They sign with
// the provisioning service's policy (--login), not the hub's.

// dpsAPIVersion is the api-version the official service SDKs send to DPS.
const dpsAPIVersion = "2021-10-01"

// enrollmentKind is what an enrollment verb acts on: an individual
// enrollment, or an enrollment group.
type enrollmentKind struct{ group bool }

var (
	individualEnrollment = enrollmentKind{}
	enrollmentGroup      = enrollmentKind{group: true}
)

func (k enrollmentKind) pick(individual, group string) string {
	if k.group {
		return group
	}
	return individual
}

// command is "dps enrollment create" or "dps enrollment-group create".
func (k enrollmentKind) command(verb string) string {
	return "dps " + k.pick("enrollment", "enrollment-group") + " " + verb
}

// path is the escaped service API path of the enrollment (group) id, or
// of the collection when id is "".
func (k enrollmentKind) path(id string) string {
	p := k.pick("/enrollments", "/enrollmentGroups")
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

// idFlag adds the enrollment's id flag.
func (k enrollmentKind) idFlag(f *cliFlags) *string {
	if k.group {
		return f.RequiredString("enrollment-id,group-id,eid,gid", "ID", "the enrollment group's id")
	}
	return f.RequiredString("enrollment-id,eid", "ID", "the enrollment's registration id")
}

// addDPSConnFlags are the connection flags of a dps verb: the endpoint and
// CA as for the hub's verbs, and the provisioning service's connection
// string instead of the hub's.
func addDPSConnFlags(f *cliFlags) *connOptions {
	o := &connOptions{command: f.command, endpoint: new(string), hub: new(string), ca: new(string)}
	*o.endpoint = fmt.Sprintf("http://127.0.0.1:%d", emulator.DefaultHTTPPort)
	*o.hub = dpsConnectionString(dps.WellKnownPolicy(), "primary")
	for _, opt := range []*cliOption{
		f.register((*stringValue)(o.endpoint), "endpoint", "URL", "REST endpoint of the running emulator, http:// or https://"),
		f.register((*stringValue)(o.hub), "login,l,dps", "CONNECTION_STRING", "the provisioning service's connection string (default: the well-known provisioningserviceowner's)"),
		f.register((*stringValue)(o.ca), "ca", "FILE", "CA certificate to trust for an https endpoint (default: the data dir's)"),
	} {
		opt.group = connGroup
	}
	return o
}

// dpsClient makes the client of a dps verb, naming --login in its errors.
func dpsClient(o *connOptions) (*client, error) {
	cs, err := sas.ParseConnectionString(*o.hub)
	if err == nil && cs.SharedAccessSignature == "" && (cs.SharedAccessKeyName == "" || cs.SharedAccessKey == "") {
		err = fmt.Errorf("it needs SharedAccessKeyName and SharedAccessKey, or SharedAccessSignature")
	}
	if err != nil {
		return nil, usagef(o.command, "--login: %v", err)
	}
	return o.client()
}

// parseDPS parses a dps verb that takes flags only and makes its client.
func parseDPS(f *cliFlags, conn *connOptions, args []string) (*client, error) {
	pos, err := f.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef(f.command, "unexpected argument %q", pos[0])
	}
	return dpsClient(conn)
}

// dpsConnectionString is the service connection string of the policy,
// with its primary or secondary key.
func dpsConnectionString(p dps.Policy, keyType string) string {
	key := p.PrimaryKey
	if keyType == "secondary" {
		key = p.SecondaryKey
	}
	return sas.ConnectionString{HostName: emulator.DefaultHostName, SharedAccessKeyName: p.Name, SharedAccessKey: key}.String()
}

// dpsCall is one service API call with DPS's api-version.
func (c *client) dpsCall(ctx context.Context, method, path string, body any, headers map[string]string) ([]byte, http.Header, error) {
	r := request{method: method, path: path, headers: headers, apiVersion: dpsAPIVersion}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		r.body = b
	}
	return c.call(ctx, r)
}

// dpsQuery pages through a DPS query at path and returns at most top items
// (-1: all).
func (c *client) dpsQuery(ctx context.Context, path string, top int) ([]json.RawMessage, error) {
	items := []json.RawMessage{}
	cont := ""
	for range maxQueryPages {
		size := 100
		if top > 0 {
			size = min(size, top-len(items))
		}
		h := map[string]string{"x-ms-max-item-count": strconv.Itoa(size)}
		if cont != "" {
			h["x-ms-continuation"] = cont
		}
		data, header, err := c.dpsCall(ctx, http.MethodPost, path, map[string]string{"query": "*"}, h)
		if err != nil {
			return nil, err
		}
		var page []json.RawMessage
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, fmt.Errorf("the emulator answered the query with something other than a JSON array: %w", err)
		}
		items = append(items, page...)
		if cont = header.Get("x-ms-continuation"); cont == "" || (top > 0 && len(items) >= top) {
			break
		}
	}
	if top > 0 && len(items) > top {
		items = items[:top]
	}
	return items, nil
}

// enrollmentOptions are the flags that shape an enrollment, in create and
// update.
type enrollmentOptions struct {
	kind                                  enrollmentKind
	attestation, primaryKey, secondKey    *string
	certPath, secondCertPath, deviceID    *string
	status, tags, properties, reprovision *string
	edge                                  *bool
}

func addEnrollmentFlags(f *cliFlags, k enrollmentKind, create bool) enrollmentOptions {
	o := enrollmentOptions{kind: k}
	attDefault, attHelp := "", "symmetrickey or x509 (default: the enrollment's)"
	if create {
		attDefault, attHelp = "symmetrickey", "symmetrickey or x509"
	}
	o.attestation = f.String("attestation-type,at", attDefault, "TYPE", attHelp)
	o.primaryKey = f.String("primary-key,pk", "", "KEY", "primary symmetric key in base64 (default: generated)")
	o.secondKey = f.String("secondary-key,sk", "", "KEY", "secondary symmetric key in base64 (default: generated)")
	o.certPath = f.String("certificate-path,cp", "", "FILE", k.pick("the device's certificate (PEM or DER), for x509", "the signing CA certificate (PEM or DER), for x509"))
	o.secondCertPath = f.String("secondary-certificate-path,scp", "", "FILE", "a secondary certificate, for x509")
	if !k.group {
		o.deviceID = f.String("device-id,did", "", "DEVICE", "the hub device id (default: the registration id)")
	}
	o.status = f.String("provisioning-status,ps", "", "STATUS", "enabled or disabled (default: enabled)")
	o.tags = f.String("initial-twin-tags,itt", "", "JSON", "the initial twin's tags: JSON, or a file holding it")
	o.properties = f.String("initial-twin-properties,itp", "", "JSON", "the initial twin's desired properties: JSON, or a file holding it")
	o.edge = f.Bool("edge-enabled,ee", "provision IoT Edge devices")
	o.reprovision = f.String("reprovision-policy,rp", "", "POLICY", "reprovisionandmigratedata (default), reprovisionandresetdata or never")
	return o
}

// apply sets on e (an enrollment as JSON members) what the flags given
// say; f tells given flags from defaults.
func (o enrollmentOptions) apply(command string, f *cliFlags, e map[string]any) error {
	att, _ := e["attestation"].(map[string]any)
	if f.Given("attestation-type") || att == nil {
		t, err := oneOf(command, "--attestation-type", *o.attestation, "symmetrickey", "x509")
		if err != nil {
			return err
		}
		att = map[string]any{"type": map[string]string{"symmetrickey": dps.AttestSymmetricKey, "x509": dps.AttestX509}[t]}
	}
	keys := *o.primaryKey != "" || *o.secondKey != ""
	certs := *o.certPath != "" || *o.secondCertPath != ""
	switch att["type"] {
	case dps.AttestSymmetricKey:
		if certs {
			return usagef(command, "certificates need --attestation-type x509")
		}
		sk, _ := att["symmetricKey"].(map[string]any)
		if sk == nil {
			sk = map[string]any{}
		}
		if *o.primaryKey != "" {
			sk["primaryKey"] = *o.primaryKey
		}
		if *o.secondKey != "" {
			sk["secondaryKey"] = *o.secondKey
		}
		att["symmetricKey"] = sk
	case dps.AttestX509:
		if keys {
			return usagef(command, "symmetric keys need --attestation-type symmetrickey")
		}
		if certs || att["x509"] == nil {
			set, err := o.certificates(command)
			if err != nil {
				return err
			}
			att["x509"] = map[string]any{o.kind.pick("clientCertificates", "signingCertificates"): set}
		}
	}
	e["attestation"] = att
	if o.deviceID != nil && *o.deviceID != "" {
		e["deviceId"] = *o.deviceID
	}
	if *o.status != "" {
		s, err := oneOf(command, "--provisioning-status", *o.status, dps.StatusEnabled, dps.StatusDisabled)
		if err != nil {
			return err
		}
		e["provisioningStatus"] = s
	}
	if f.Given("edge-enabled") {
		e["capabilities"] = map[string]bool{"iotEdge": *o.edge}
	}
	if *o.reprovision != "" {
		p, err := oneOf(command, "--reprovision-policy", *o.reprovision, "reprovisionandmigratedata", "reprovisionandresetdata", "never")
		if err != nil {
			return err
		}
		e["reprovisionPolicy"] = map[string]map[string]bool{
			"reprovisionandmigratedata": {"updateHubAssignment": true, "migrateDeviceData": true},
			"reprovisionandresetdata":   {"updateHubAssignment": true, "migrateDeviceData": false},
			"never":                     {"updateHubAssignment": false, "migrateDeviceData": false},
		}[p]
	}
	if *o.tags != "" || *o.properties != "" {
		tw, _ := e["initialTwin"].(map[string]any)
		if tw == nil {
			tw = map[string]any{}
		}
		if *o.tags != "" {
			tags, err := jsonArg(command, "--initial-twin-tags", *o.tags, true)
			if err != nil {
				return err
			}
			tw["tags"] = tags
		}
		if *o.properties != "" {
			desired, err := jsonArg(command, "--initial-twin-properties", *o.properties, true)
			if err != nil {
				return err
			}
			tw["properties"] = map[string]any{"desired": desired}
		}
		e["initialTwin"] = tw
	}
	return nil
}

// certificates reads --certificate-path and --secondary-certificate-path
// as an X.509 attestation's certificate set.
func (o enrollmentOptions) certificates(command string) (map[string]any, error) {
	if *o.certPath == "" {
		return nil, usagef(command, "--attestation-type x509 needs --certificate-path")
	}
	set := map[string]any{}
	for _, c := range []struct{ name, option, path string }{
		{"primary", "--certificate-path", *o.certPath}, {"secondary", "--secondary-certificate-path", *o.secondCertPath},
	} {
		if c.path == "" {
			continue
		}
		data, err := os.ReadFile(c.path)
		if err != nil {
			return nil, usagef(command, "%s: %v", c.option, err)
		}
		text := string(data)
		if !strings.Contains(text, "-----BEGIN") {
			// DER: DPS takes base64 of it.
			text = base64.StdEncoding.EncodeToString(data)
		}
		if _, err := dps.ParseCertificate(text); err != nil {
			return nil, usagef(command, "%s: %s holds no certificate that can be read: %v", c.option, c.path, err)
		}
		set[c.name] = map[string]string{"certificate": text}
	}
	return set, nil
}

// enrollmentCreate is dps enrollment create and dps enrollment-group create.
func enrollmentCreate(k enrollmentKind) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := k.command("create")
		f := newCLIFlags(name, "--enrollment-id ID [--attestation-type symmetrickey|x509]",
			k.pick("Create an individual enrollment and print it.", "Create an enrollment group and print it."), stdout)
		id := k.idFlag(f)
		opts := addEnrollmentFlags(f, k, true)
		conn := addDPSConnFlags(f)
		c, err := parseDPS(f, conn, args)
		if err != nil {
			return err
		}
		e := map[string]any{k.pick("registrationId", "enrollmentGroupId"): *id}
		if err := opts.apply(name, f, e); err != nil {
			return err
		}
		// Create, not replace: If-Match on a new one would be 404, so ask first.
		if _, _, err := c.dpsCall(ctx, http.MethodGet, k.path(*id), nil, nil); err == nil {
			return fmt.Errorf("%s '%s' already exists; change it with %s", k.pick("the enrollment", "the enrollment group"), *id, k.command("update"))
		} else if !isNotFound(err) {
			return err
		}
		raw, _, err := c.dpsCall(ctx, http.MethodPut, k.path(*id), e, nil)
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}

// isNotFound reports whether err is the emulator's 404.
func isNotFound(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.Status == http.StatusNotFound
}

// enrollmentUpdate changes the flags given of an existing enrollment,
// conditional on its etag (--etag, default: the one just read).
func enrollmentUpdate(k enrollmentKind) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := k.command("update")
		f := newCLIFlags(name, "--enrollment-id ID [flags to change]",
			k.pick("Change an individual enrollment and print it.", "Change an enrollment group and print it."), stdout)
		id := k.idFlag(f)
		etag := f.String("etag,e", "", "ETAG", "change it only if its etag is this (default: the etag read)")
		opts := addEnrollmentFlags(f, k, false)
		conn := addDPSConnFlags(f)
		c, err := parseDPS(f, conn, args)
		if err != nil {
			return err
		}
		raw, _, err := c.dpsCall(ctx, http.MethodGet, k.path(*id), nil, nil)
		if err != nil {
			return err
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("the emulator answered with an enrollment that cannot be read: %w", err)
		}
		// The service shows certificates as their information only, so an
		// X.509 enrollment is written back only with its certificates given.
		if att, _ := e["attestation"].(map[string]any); att != nil && att["type"] == dps.AttestX509 && *opts.certPath == "" && !f.Given("attestation-type") {
			return usagef(name, "the service does not show an x509 enrollment's certificates; give --certificate-path (and --secondary-certificate-path) again to update it")
		}
		if err := opts.apply(name, f, e); err != nil {
			return err
		}
		return c.putEnrollment(ctx, k, *id, e, *etag, stdout)
	}
}

func (c *client) putEnrollment(ctx context.Context, k enrollmentKind, id string, e map[string]any, etag string, stdout io.Writer) error {
	if etag == "" {
		etag, _ = e["etag"].(string)
	}
	for _, ro := range []string{"registrationState", "createdDateTimeUtc", "lastUpdatedDateTimeUtc", "etag"} {
		delete(e, ro)
	}
	raw, _, err := c.dpsCall(ctx, http.MethodPut, k.path(id), e, ifMatch(etag))
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

// enrollmentShow prints an enrollment (group).
func enrollmentShow(k enrollmentKind) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := k.command("show")
		f := newCLIFlags(name, "--enrollment-id ID", k.pick("Show an individual enrollment, keys included.", "Show an enrollment group, keys included."), stdout)
		id := k.idFlag(f)
		conn := addDPSConnFlags(f)
		c, err := parseDPS(f, conn, args)
		if err != nil {
			return err
		}
		raw, _, err := c.dpsCall(ctx, http.MethodGet, k.path(*id), nil, nil)
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}

// enrollmentList prints every enrollment (group).
func enrollmentList(k enrollmentKind) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := k.command("list")
		f := newCLIFlags(name, "", k.pick("List the individual enrollments.", "List the enrollment groups."), stdout)
		top := addTopFlag(f, k.pick("enrollments", "enrollment groups"))
		conn := addDPSConnFlags(f)
		c, err := parseDPS(f, conn, args)
		if err != nil {
			return err
		}
		if err := checkTop(name, *top); err != nil {
			return err
		}
		items, err := c.dpsQuery(ctx, k.path("")+"/query", *top)
		if err != nil {
			return err
		}
		return printJSON(stdout, items)
	}
}

// enrollmentDelete deletes an enrollment (group).
func enrollmentDelete(k enrollmentKind) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := k.command("delete")
		f := newCLIFlags(name, "--enrollment-id ID", k.pick("Delete an individual enrollment and its registration state.", "Delete an enrollment group and its devices' registration states."), stdout)
		id := k.idFlag(f)
		etag := f.String("etag,e", "", "ETAG", "delete it only if its etag is this")
		conn := addDPSConnFlags(f)
		c, err := parseDPS(f, conn, args)
		if err != nil {
			return err
		}
		_, _, err = c.dpsCall(ctx, http.MethodDelete, k.path(*id), nil, ifMatch(*etag))
		return err
	}
}

// computeDeviceKey derives a group device's key, offline.
func computeDeviceKey(_ context.Context, args []string, stdout, _ io.Writer) error {
	const name = "dps enrollment-group compute-device-key"
	f := newCLIFlags(name, "--key KEY --registration-id ID", "Print the symmetric key of a device in an enrollment group (no emulator needed).", stdout)
	key := f.RequiredString("key", "KEY", "the enrollment group's symmetric key")
	rid := f.RequiredString("registration-id,rid", "ID", "the device's registration id")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef(name, "unexpected argument %q", pos[0])
	}
	if err := dps.ValidateRegistrationID("registration id", *rid); err != nil {
		return usagef(name, "--registration-id: %v", err)
	}
	k, err := dps.DeviceKey(*key, *rid)
	if err != nil {
		return usagef(name, "--key is not base64")
	}
	return printJSON(stdout, k)
}

// registrationPath is the escaped service API path of a registration state.
func registrationPath(id string) string { return "/registrations/" + url.PathEscape(id) }

func registrationShow(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "dps registration show"
	f := newCLIFlags(name, "--registration-id ID", "Show a device's registration state.", stdout)
	id := f.RequiredString("registration-id,rid", "ID", "the device's registration id")
	conn := addDPSConnFlags(f)
	c, err := parseDPS(f, conn, args)
	if err != nil {
		return err
	}
	raw, _, err := c.dpsCall(ctx, http.MethodGet, registrationPath(*id), nil, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

func registrationList(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "dps registration list"
	f := newCLIFlags(name, "--group-id ID", "List the registration states of an enrollment group's devices.", stdout)
	group := f.RequiredString("group-id,gid,enrollment-id,eid", "ID", "the enrollment group's id")
	top := addTopFlag(f, "registrations")
	conn := addDPSConnFlags(f)
	c, err := parseDPS(f, conn, args)
	if err != nil {
		return err
	}
	if err := checkTop(name, *top); err != nil {
		return err
	}
	items, err := c.dpsQuery(ctx, registrationPath(*group)+"/query", *top)
	if err != nil {
		return err
	}
	return printJSON(stdout, items)
}

func registrationDelete(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "dps registration delete"
	f := newCLIFlags(name, "--registration-id ID", "Delete a device's registration state; its next registration is its first again.", stdout)
	id := f.RequiredString("registration-id,rid", "ID", "the device's registration id")
	etag := f.String("etag,e", "", "ETAG", "delete it only if its etag is this")
	conn := addDPSConnFlags(f)
	c, err := parseDPS(f, conn, args)
	if err != nil {
		return err
	}
	_, _, err = c.dpsCall(ctx, http.MethodDelete, registrationPath(*id), nil, ifMatch(*etag))
	return err
}

// dpsConnectionStringShow prints the provisioning service's connection
// string, offline: the emulator's policy keys are the well-known ones
// unless --login names others.
func dpsConnectionStringShow(_ context.Context, args []string, stdout, _ io.Writer) error {
	const name = "dps connection-string show"
	f := newCLIFlags(name, "", "Print the provisioning service's connection string and ID scope.", stdout)
	keyType := f.String("key-type,kt", "primary", "KEY", "primary or secondary")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef(name, "unexpected argument %q", pos[0])
	}
	kt, err := oneOf(name, "--key-type", *keyType, "primary", "secondary")
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{
		"connectionString": dpsConnectionString(dps.WellKnownPolicy(), kt),
		"idScope":          dps.DefaultIDScope,
	})
}
