package hub

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// ExportDevices writes every identity as one line of IoT Hub's export
// format (an ExportImportDevice object): each device, then its modules, in
// id order, with its twin's tags and properties. excludeKeys exports the
// symmetric keys as null, as excludeKeysInExport asks. fn's error stops
// the export and is returned.
func (h *Hub) ExportDevices(ctx context.Context, excludeKeys bool, fn func(line []byte) error) error {
	for _, key := range h.sortedKeys(func(string, *entry) bool { return true }) {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := h.get(key)
		if e == nil {
			continue // deleted since the keys were listed
		}
		line, err := json.Marshal(exportItem(e, excludeKeys))
		if err != nil {
			return errcode.Wrap(errcode.ServerError, err, "could not encode identity %s", key)
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// exportItem is one identity as an export line.
func exportItem(e *entry, excludeKeys bool) map[string]any {
	auth := e.auth
	if excludeKeys && auth.SymmetricKey != nil {
		auth.SymmetricKey = &registry.SymmetricKey{}
	}
	authJSON := map[string]any{
		"type": auth.Type,
		"x509Thumbprint": map[string]any{
			"primaryThumbprint":   strOrNil(auth.X509Thumbprint.PrimaryThumbprint),
			"secondaryThumbprint": strOrNil(auth.X509Thumbprint.SecondaryThumbprint),
		},
	}
	if k := auth.SymmetricKey; k != nil {
		authJSON["symmetricKey"] = map[string]any{"primaryKey": strOrNull(k.PrimaryKey), "secondaryKey": strOrNull(k.SecondaryKey)}
	}
	item := map[string]any{
		"id":             e.deviceID,
		"eTag":           e.etag,
		"status":         e.status,
		"authentication": authJSON,
		"twinETag":       e.twin.ETag(),
		"tags":           e.twin.SharedTags(),
		"properties":     e.twin.Properties(),
	}
	if e.kind == moduleKind {
		item["moduleId"] = e.moduleID
		if e.managedBy != "" {
			item["managedBy"] = e.managedBy
		}
		return item
	}
	var reason any
	if e.statusReason != nil {
		reason = *e.statusReason
	}
	item["statusReason"] = reason
	item["capabilities"] = map[string]any{"iotEdge": e.capabilities.IotEdge}
	if e.deviceScope != "" {
		item["deviceScope"] = e.deviceScope
	}
	if len(e.parentScopes) > 0 {
		item["parentScopes"] = e.parentScopes
	}
	return item
}

func strOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Import modes that only import jobs name; the others are the bulk API's.
const (
	importCreateOrUpdate            = "createOrUpdate"
	importCreateOrUpdateIfMatchETag = "createOrUpdateIfMatchETag"
)

// ImportDevices applies the lines of an import job's input blob in order,
// each as a bulk registry item is applied (whole or not at all), and
// returns the failures. A line without importMode is createOrUpdate, the
// import default. Reported properties and the twin's $metadata and
// $version, which an export writes, are ignored, so an export imports
// back unchanged.
func (h *Hub) ImportDevices(ctx context.Context, lines []json.RawMessage) []BulkError {
	var errs []BulkError
	for _, raw := range lines {
		if ctx.Err() != nil {
			break
		}
		op, err := parseImportLine(raw)
		if err == nil {
			err = h.bulkApply(ctx, op)
		}
		if err != nil {
			e := errcode.From(err)
			errs = append(errs, BulkError{DeviceID: op.DeviceID, ModuleID: op.ModuleID, Operation: op.Mode,
				ErrorCode: e.Code.Name(), ErrorStatus: e.Message})
		}
	}
	return errs
}

// parseImportLine decodes one import line into a bulk operation. The op's
// ids are set whenever the line names them, for the error log.
func parseImportLine(raw json.RawMessage) (BulkOp, error) {
	var it bulkItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return BulkOp{}, errcode.New(errcode.ArgumentInvalid, "The line is not an ExportImportDevice JSON object.")
	}
	mode := ""
	if it.ImportMode != nil {
		mode = *it.ImportMode
	}
	switch {
	case mode == "" || strings.EqualFold(mode, importCreateOrUpdate):
		mode = BulkUpdate
	case strings.EqualFold(mode, importCreateOrUpdateIfMatchETag):
		mode = BulkUpdateIfMatchETag
	}
	it.ImportMode = &mode
	op, err := bulkOpOf(0, it, true)
	if err != nil {
		if it.ID != nil {
			op.DeviceID = *it.ID
		}
		op.ModuleID, op.Mode = it.ModuleID, mode
	}
	return op, err
}
