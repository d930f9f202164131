package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/emulator"
	"github.com/iothub-emulator/iothub-emulator/registry"
	"github.com/iothub-emulator/iothub-emulator/sas"
)

const apiVersion = "2021-04-12"

// client calls a running emulator's REST API with a service policy.
type client struct {
	endpoint *url.URL
	hub      sas.ConnectionString
	http     *http.Client
}

// clientFlags adds the flags every verb that talks to a running emulator takes.
func clientFlags(fs *flag.FlagSet) (endpoint, hubCS, caFile *string) {
	wellKnown := sas.ConnectionString{HostName: emulator.DefaultHostName, SharedAccessKeyName: "iothubowner",
		SharedAccessKey: registry.WellKnownPolicies()[0].PrimaryKey}
	endpoint = fs.String("endpoint", fmt.Sprintf("http://127.0.0.1:%d", emulator.DefaultHTTPPort), "REST endpoint of the running emulator (http:// or https://)")
	hubCS = fs.String("hub", wellKnown.String(), "service connection string with RegistryWrite (default: the well-known local hub)")
	caFile = fs.String("ca", "", "CA certificate to trust for an https endpoint (default: the data dir's)")
	return
}

func newClient(endpoint, hubCS, caFile string) (*client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q is not an http:// or https:// URL", endpoint)
	}
	cs, err := sas.ParseConnectionString(hubCS)
	if err != nil {
		return nil, fmt.Errorf("--hub: %w", err)
	}
	if cs.SharedAccessKeyName == "" || cs.SharedAccessKey == "" {
		return nil, errors.New("--hub needs SharedAccessKeyName and SharedAccessKey")
	}
	tr := &http.Transport{}
	if u.Scheme == "https" {
		if caFile == "" {
			caFile = emulator.DefaultDataDir + "/certs/ca.pem"
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
	return &client{endpoint: u, hub: cs, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// do sends one request and decodes a JSON answer into out; an IoT Hub error
// body becomes a one-line error.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doHeaders(ctx, method, path, nil, body, out)
	return err
}

// doHeaders is do with request headers in and response headers out.
func (c *client) doHeaders(ctx context.Context, method, path string, headers map[string]string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := *c.endpoint
	u.RawPath = strings.TrimSuffix(c.endpoint.EscapedPath(), "/") + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = "api-version=" + apiVersion
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	tok, err := sas.NewToken(c.hub.HostName, c.hub.SharedAccessKey, c.hub.SharedAccessKeyName, time.Now().Add(time.Hour))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the emulator running? %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimPrefix(e.Message, "ErrorCode:"))
		}
		return nil, fmt.Errorf("%s", resp.Status)
	}
	if out != nil && len(data) > 0 {
		return resp.Header, json.Unmarshal(data, out)
	}
	return resp.Header, nil
}

func device(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: iothub-emulator device create <id> [--endpoint URL] [--hub CONNECTION_STRING] [--ca FILE]")
		return errUsage
	}
	fs := flag.NewFlagSet("device create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint, hubCS, caFile := clientFlags(fs)
	// Accept the id before or after the flags.
	rest := args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return errUsage
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		fmt.Fprintln(stderr, "usage: iothub-emulator device create <id> [flags]")
		return errUsage
	}
	c, err := newClient(*endpoint, *hubCS, *caFile)
	if err != nil {
		return err
	}
	var d registry.Device
	if err := c.do(ctx, http.MethodPut, "/devices/"+url.PathEscape(id), map[string]any{"deviceId": id}, &d); err != nil {
		return err
	}
	if d.Authentication.SymmetricKey == nil {
		return errors.New("the created device has no symmetric key")
	}
	fmt.Fprintln(stdout, sas.ConnectionString{HostName: c.hub.HostName, DeviceID: d.DeviceID, SharedAccessKey: d.Authentication.SymmetricKey.PrimaryKey}.String())
	return nil
}
