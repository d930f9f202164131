package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/iothub-emulator/iothub-emulator/sas"
)

// Registry creates and deletes the simulated devices through the hub's
// service REST API, with a service connection string whose policy may
// write the registry.
type Registry struct {
	Client   *http.Client
	Endpoint string // "https://127.0.0.1" or "http://127.0.0.1:8080"
	Conn     sas.ConnectionString
}

const apiVersion = "2021-04-12"

func (g Registry) do(ctx context.Context, method, path string, body any) ([]byte, int, error) {
	tok, err := sas.NewToken(g.Conn.HostName, g.Conn.SharedAccessKey, g.Conn.SharedAccessKeyName, time.Now().Add(time.Hour))
	if err != nil {
		return nil, 0, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.Endpoint+path+"?api-version="+apiVersion, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodDelete {
		req.Header.Set("If-Match", "*")
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b, resp.StatusCode, err
}

// Create creates n devices named prefix-0 ... prefix-(n-1), with keys the
// hub generates; a device that exists already is read back instead.
func (g Registry) Create(ctx context.Context, prefix string, n int) ([]Device, error) {
	out := make([]Device, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		path := "/devices/" + url.PathEscape(id)
		b, status, err := g.do(ctx, http.MethodPut, path, map[string]any{"deviceId": id})
		if err == nil && status == http.StatusConflict {
			b, status, err = g.do(ctx, http.MethodGet, path, nil)
		}
		if err != nil {
			return out, fmt.Errorf("create %s: %w", id, err)
		}
		if status != http.StatusOK {
			return out, fmt.Errorf("create %s: HTTP %d: %s", id, status, bytes.TrimSpace(b))
		}
		var dev struct {
			Authentication struct {
				SymmetricKey struct {
					PrimaryKey string `json:"primaryKey"`
				} `json:"symmetricKey"`
			} `json:"authentication"`
		}
		if err := json.Unmarshal(b, &dev); err != nil || dev.Authentication.SymmetricKey.PrimaryKey == "" {
			return out, fmt.Errorf("create %s: no symmetric key in the answer", id)
		}
		out = append(out, Device{ID: id, Key: dev.Authentication.SymmetricKey.PrimaryKey})
	}
	return out, nil
}

// Delete deletes the devices.
func (g Registry) Delete(ctx context.Context, devices []Device) error {
	for _, d := range devices {
		b, status, err := g.do(ctx, http.MethodDelete, "/devices/"+url.PathEscape(d.ID), nil)
		if err != nil {
			return fmt.Errorf("delete %s: %w", d.ID, err)
		}
		if status != http.StatusNoContent && status != http.StatusNotFound {
			return fmt.Errorf("delete %s: HTTP %d: %s", d.ID, status, bytes.TrimSpace(b))
		}
	}
	return nil
}
