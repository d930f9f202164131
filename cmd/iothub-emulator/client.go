package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

const apiVersion = "2021-04-12"

// Bounds on one REST call.
const (
	defaultRequestTimeout = 30 * time.Second
	maxResponseBody       = 64 << 20
)

// connGroup titles the connection flags in a command's help.
const connGroup = "Connection"

// connOptions are the flags every command that talks to a running emulator takes.
type connOptions struct {
	command  string
	endpoint *string
	hub      *string
	ca       *string
}

func addConnFlags(f *cliFlags) *connOptions {
	wellKnown := sas.ConnectionString{HostName: emulator.DefaultHostName, SharedAccessKeyName: "iothubowner",
		SharedAccessKey: registry.WellKnownPolicies()[0].PrimaryKey}
	o := &connOptions{command: f.command, endpoint: new(string), hub: new(string), ca: new(string)}
	*o.endpoint = fmt.Sprintf("http://127.0.0.1:%d", emulator.DefaultHTTPPort)
	*o.hub = wellKnown.String()
	for _, opt := range []*cliOption{
		f.register((*stringValue)(o.endpoint), "endpoint", "URL", "REST endpoint of the running emulator, http:// or https://"),
		f.register((*stringValue)(o.hub), "hub,login,l", "CONNECTION_STRING", "service connection string (default: the well-known local hub's iothubowner)"),
		f.register((*stringValue)(o.ca), "ca", "FILE", "CA certificate to trust for an https endpoint (default: the data dir's)"),
	} {
		opt.group = connGroup
	}
	return o
}

// client calls a running emulator's REST API with a service policy.
type client struct {
	endpoint *url.URL
	hub      sas.ConnectionString
	http     *http.Client
}

func (o *connOptions) client() (*client, error) {
	u, err := url.Parse(*o.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef(o.command, "--endpoint %q is not an http:// or https:// URL", *o.endpoint)
	}
	cs, err := sas.ParseConnectionString(*o.hub)
	if err != nil {
		return nil, usagef(o.command, "--hub: %v", err)
	}
	if cs.SharedAccessSignature == "" && (cs.SharedAccessKeyName == "" || cs.SharedAccessKey == "") {
		return nil, usagef(o.command, "--hub needs SharedAccessKeyName and SharedAccessKey, or SharedAccessSignature")
	}
	// No proxy: the emulator is local, and nothing should leave the machine by accident.
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	if u.Scheme == "https" {
		caFile := *o.ca
		if caFile == "" {
			caFile = filepath.Join(emulator.DefaultDataDir, "certs", "ca.pem")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// Time limits are per request (see request.timeout): an event stream has none.
	return &client{endpoint: u, hub: cs, http: &http.Client{Transport: tr}}, nil
}

// request is one REST call.
type request struct {
	method      string
	path        string // escaped, from the API root: "/devices/" + url.PathEscape(id)
	query       url.Values
	headers     map[string]string
	body        []byte
	contentType string        // default application/json
	timeout     time.Duration // default defaultRequestTimeout
	apiVersion  string        // default apiVersion (the hub's)
}

// apiError is an error answer of the emulator, in IoT Hub's form.
type apiError struct {
	Status  int
	Code    string // IoT Hub error code name such as DeviceNotFound; "" if the answer had none
	Message string
	Body    []byte // the answer's body, for errors that carry a result (bulk registry)
}

func (e *apiError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// parseAPIError reads IoT Hub's error body ({"Message":"ErrorCode:Name;text",...})
// and its iothub-errorcode header.
func parseAPIError(status int, header http.Header, body []byte) *apiError {
	e := &apiError{Status: status, Code: header.Get("iothub-errorcode"), Body: body}
	// The provisioning service's form: {"errorCode":404201,"message":"..."}.
	var p struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &p) == nil && p.ErrorCode != 0 {
		if c := errcode.Code(p.ErrorCode); e.Code == "" {
			// A code outside the catalogue is shown as its number, not as "ServerError".
			e.Code = c.Name()
			if c.HTTPStatus() != http.StatusInternalServerError && e.Code == errcode.ServerError.Name() {
				e.Code = strconv.Itoa(p.ErrorCode)
			}
		}
		e.Message = oneLine(p.Message)
	}
	var b struct{ Message string }
	if e.Message == "" && json.Unmarshal(body, &b) == nil && b.Message != "" {
		msg := b.Message
		if rest, ok := strings.CutPrefix(msg, "ErrorCode:"); ok {
			code, text, _ := strings.Cut(rest, ";")
			if e.Code == "" {
				e.Code = code
			}
			msg = text
		} else {
			// The hub's other form carries a JSON document in Message.
			var inner struct{ Message string }
			if json.Unmarshal([]byte(msg), &inner) == nil && inner.Message != "" {
				msg = inner.Message
			}
		}
		e.Message = oneLine(msg)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Code = oneLine(e.Code)
	return e
}

// oneLine keeps a message on one line of the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// open sends a request and returns the response of a success; the caller
// closes its body. Error answers become an *apiError.
func (c *client) open(ctx context.Context, r request) (*http.Response, error) {
	u := *c.endpoint
	u.RawPath = strings.TrimSuffix(c.endpoint.EscapedPath(), "/") + r.path
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, fmt.Errorf("bad request path %q: %w", r.path, err)
	}
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	v := r.apiVersion
	if v == "" {
		v = apiVersion
	}
	q.Set("api-version", v)
	u.RawQuery = q.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	auth, err := c.authorization()
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	ct := r.contentType
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	if r.body != nil {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the emulator at %s (is it running?): %w", c.endpoint.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, parseAPIError(resp.StatusCode, resp.Header, data)
	}
	return resp, nil
}

// call sends a request with a time limit and returns the whole answer.
func (c *client) call(ctx context.Context, r request) ([]byte, http.Header, error) {
	timeout := r.timeout
	if timeout <= 0 {
		timeout = defaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.open(ctx, r)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, nil, fmt.Errorf("the emulator did not answer %s %s within %s", r.method, r.path, timeout)
	}
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)
	}
	if len(data) > maxResponseBody {
		return nil, nil, fmt.Errorf("the answer to %s %s is larger than %d bytes", r.method, r.path, maxResponseBody)
	}
	return data, resp.Header, nil
}

// callJSON sends body (marshalled as JSON unless nil) and returns the answer.
func (c *client) callJSON(ctx context.Context, method, path string, body any, headers map[string]string) ([]byte, error) {
	r := request{method: method, path: path, headers: headers}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r.body = b
	}
	data, _, err := c.call(ctx, r)
	return data, err
}

// authorization is the SAS token the requests carry: one signed with the
// policy key, or the connection string's own token.
func (c *client) authorization() (string, error) {
	if c.hub.SharedAccessSignature != "" {
		return c.hub.SharedAccessSignature, nil
	}
	return sas.NewToken(c.hub.HostName, c.hub.SharedAccessKey, c.hub.SharedAccessKeyName, time.Now().Add(time.Hour))
}

// ifMatch renders an If-Match header the way the SDKs do: quoted, "*" when
// no etag is given.
func ifMatch(etag string) map[string]string {
	if etag == "" {
		etag = "*"
	}
	return map[string]string{"If-Match": `"` + strings.Trim(etag, `"`) + `"`}
}

// devicePath is the escaped path of a device, and of its module if moduleID is set.
func devicePath(prefix, deviceID, moduleID string) string {
	p := prefix + "/" + url.PathEscape(deviceID)
	if moduleID != "" {
		p += "/modules/" + url.PathEscape(moduleID)
	}
	return p
}
