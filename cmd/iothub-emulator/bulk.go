package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// bulkBatch is how many identities one POST /devices may name.
const bulkBatch = 100

// bulkResult is IoT Hub's BulkRegistryOperationResult.
type bulkResult struct {
	IsSuccessful bool              `json:"isSuccessful"`
	Errors       []json.RawMessage `json:"errors"`
	Warnings     []json.RawMessage `json:"warnings"`
}

// bulkCreate is device-identity create --devices-file: the file holds a
// JSON array of ExportImportDevice objects (or of device identities, whose
// deviceId stands for id and whose importMode defaults to create), sent
// 100 at a time. It prints the combined result and fails when any device
// failed.
func bulkCreate(ctx context.Context, command string, c *client, path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usagef(command, "cannot read --devices-file: %v", err)
	}
	items, err := bulkItems(data)
	if err != nil {
		return usagef(command, "--devices-file %s: %v", path, err)
	}
	total := bulkResult{IsSuccessful: true, Errors: []json.RawMessage{}, Warnings: []json.RawMessage{}}
	for start := 0; start < len(items); start += bulkBatch {
		batch := items[start:min(start+bulkBatch, len(items))]
		res, err := postBulk(ctx, c, batch)
		if err != nil {
			return err
		}
		total.IsSuccessful = total.IsSuccessful && res.IsSuccessful
		total.Errors = append(total.Errors, res.Errors...)
		total.Warnings = append(total.Warnings, res.Warnings...)
	}
	out, err := json.Marshal(total)
	if err != nil {
		return err
	}
	if err := printRaw(stdout, out); err != nil {
		return err
	}
	if !total.IsSuccessful {
		return fmt.Errorf("BulkRegistryOperationFailure: %d of %d devices failed (listed in errors)", len(total.Errors), len(items))
	}
	return nil
}

// bulkItems decodes the file: a non-empty array of objects, each given an
// id and an importMode.
func bulkItems(data []byte) ([]map[string]any, error) {
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("not a JSON array of objects: %w", err)
	}
	if len(items) == 0 {
		return nil, errors.New("the array names no device")
	}
	for i, it := range items {
		if _, ok := it["id"]; !ok {
			if id, ok := it["deviceId"]; ok {
				it["id"] = id
				delete(it, "deviceId")
			}
		}
		if id, _ := it["id"].(string); strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("item %d has no id", i)
		}
		if _, ok := it["importMode"]; !ok {
			it["importMode"] = "create"
		}
	}
	return items, nil
}

// postBulk sends one batch; a partial failure (400 BulkRegistryOperationFailure)
// is a result, not an error.
func postBulk(ctx context.Context, c *client, batch []map[string]any) (bulkResult, error) {
	raw, err := c.callJSON(ctx, http.MethodPost, "/devices", batch, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "BulkRegistryOperationFailure" {
		raw, err = ae.Body, nil
	}
	if err != nil {
		return bulkResult{}, err
	}
	var res bulkResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return bulkResult{}, fmt.Errorf("the emulator answered with a bulk result that cannot be read: %w", err)
	}
	return res, nil
}
