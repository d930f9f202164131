package importexport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// storageVersion is the Azure Storage service version the container
// client speaks (the one the built-in blob endpoint's SAS tokens carry).
const storageVersion = "2020-12-06"

// maxBlobRead bounds a blob an import reads: far above a registry of a
// million identities, far below the memory of the machine.
const maxBlobRead = 1 << 30

// Storage reaches the blob containers named by SAS URIs.
type Storage struct {
	// Local is the built-in blob endpoint, if it runs: container URIs whose
	// first path segment is LocalAccount, on a loopback address or one of
	// LocalHosts, are served by it in process, SAS checks included.
	Local        http.Handler
	LocalAccount string
	LocalHosts   []string
	// Client reaches every other account (Azurite, Azure Storage).
	Client *http.Client
}

// container is one blob container, reached by its SAS URI.
type container struct {
	base   url.URL // the container's URL, without the query
	sas    string  // the SAS query, without '?'
	client *http.Client
}

// open parses a container SAS URI and picks how to reach it.
func (s Storage) open(uri string) (*container, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("the blob container URI is not an http(s) URL with a host")
	}
	c := &container{base: *u, sas: u.RawQuery}
	c.base.RawQuery, c.base.Fragment = "", ""
	c.base.Path = strings.TrimSuffix(u.Path, "/")
	if strings.Trim(c.base.Path, "/") == "" {
		return nil, fmt.Errorf("the blob container URI names no container")
	}
	c.client = s.Client
	if s.Local != nil && s.isLocal(u) {
		c.client = &http.Client{Transport: handlerTransport{s.Local}}
	}
	if c.client == nil {
		c.client = http.DefaultClient
	}
	return c, nil
}

// isLocal reports whether a URL is the built-in endpoint's: its account's
// path on this host.
func (s Storage) isLocal(u *url.URL) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if first != s.LocalAccount {
		return false
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, h := range s.LocalHosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

func (c *container) blobURL(name string) string {
	u := c.base
	u.Path = c.base.Path + "/" + strings.TrimPrefix(name, "/")
	u.RawPath = ""
	u.RawQuery = c.sas
	return u.String()
}

// put writes a block blob.
func (c *container) put(ctx context.Context, name string, data []byte, contentType string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.blobURL(name), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("x-ms-version", storageVersion)
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.Header.Set("Content-Type", contentType)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("write blob %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("write blob %s: %w", name, storageError(resp))
	}
	return nil
}

// get reads a blob.
func (c *container) get(ctx context.Context, name string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.blobURL(name), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-ms-version", storageVersion)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read blob %s: %w", name, storageError(resp))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBlobRead+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", name, err)
	}
	if len(data) > maxBlobRead {
		return nil, fmt.Errorf("read blob %s: it is larger than %d bytes", name, maxBlobRead)
	}
	return data, nil
}

// storageError is an Azure Storage error answer as an error: status, code
// and message.
func storageError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &e) == nil && e.Code != "" {
		return fmt.Errorf("storage answered %d %s: %s", resp.StatusCode, e.Code, strings.TrimSpace(firstLine(e.Message)))
	}
	return fmt.Errorf("storage answered %d", resp.StatusCode)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// handlerTransport serves requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := newRecorder()
	// The built-in endpoint checks that a SAS asking for HTTPS came over
	// TLS; in process, the request carries the scheme the URI names.
	if req.URL.Scheme == "https" {
		req.TLS = &tls.ConnectionState{}
	}
	req.RequestURI = req.URL.RequestURI()
	if req.Body == nil {
		req.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, req)
	return rec.response(req), nil
}
