package hub

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/jsontext"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

// MaxBulkDevices is how many identities one bulk registry call may name.
const MaxBulkDevices = 100

// Bulk import modes, IoT Hub's names (matched regardless of case: the Node
// SDK sends "Update" and "create").
const (
	BulkCreate                = "create"
	BulkUpdate                = "update"
	BulkUpdateIfMatchETag     = "updateIfMatchETag"
	BulkDelete                = "delete"
	BulkDeleteIfMatchETag     = "deleteIfMatchETag"
	BulkUpdateTwin            = "updateTwin"
	BulkUpdateTwinIfMatchETag = "updateTwinIfMatchETag"
)

var bulkModes = []string{BulkCreate, BulkUpdate, BulkUpdateIfMatchETag, BulkDelete, BulkDeleteIfMatchETag, BulkUpdateTwin, BulkUpdateTwinIfMatchETag}

// BulkOp is one item of a bulk registry call (IoT Hub's ExportImportDevice),
// decoded and checked by ParseBulk.
type BulkOp struct {
	DeviceID, ModuleID string
	Mode               string // one of the Bulk* modes, canonical spelling
	ETag, TwinETag     string
	identity           []byte              // the identity as a PUT body
	twin               *twin.ServiceUpdate // tags and desired properties, if any
	invalid            error               // why the item's twin sections cannot be applied
}

// bulkItem is ExportImportDevice on the wire. Members it does not name (the
// read-only ones of a Device the Node SDK passes through) are ignored, as a
// device PUT ignores them. "etag", as the Node SDK spells it, decodes into
// ETag: JSON member names match regardless of case.
type bulkItem struct {
	ID           *string         `json:"id"`
	ModuleID     string          `json:"moduleId"`
	ETag         string          `json:"eTag"`
	ImportMode   *string         `json:"importMode"`
	Status       json.RawMessage `json:"status"`
	StatusReason json.RawMessage `json:"statusReason"`
	Auth         json.RawMessage `json:"authentication"`
	TwinETag     string          `json:"twinETag"`
	Tags         json.RawMessage `json:"tags"`
	Properties   json.RawMessage `json:"properties"`
	Capabilities json.RawMessage `json:"capabilities"`
	DeviceScope  json.RawMessage `json:"deviceScope"`
	ParentScopes json.RawMessage `json:"parentScopes"`
}

// ParseBulk decodes the body of POST /devices: a JSON array of 1 to 100
// ExportImportDevice objects, each naming its identity once, with a known
// import mode. Errors here refuse the whole call; what depends on the
// registry (an id taken, an etag stale, an identity body invalid) fails
// only its item, in BulkRegistry.
func ParseBulk(body []byte) ([]BulkOp, error) {
	if err := jsontext.Check(body); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The request body is not valid JSON text: %v.", err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil || items == nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The request body must be a JSON array of ExportImportDevice objects.")
	}
	switch {
	case len(items) == 0:
		return nil, errcode.New(errcode.ArgumentInvalid, "The request names no device; a bulk call takes 1 to %d.", MaxBulkDevices)
	case len(items) > MaxBulkDevices:
		return nil, errcode.New(errcode.TooManyDevices, "The request names %d devices; a bulk call takes at most %d.", len(items), MaxBulkDevices)
	}
	ops := make([]BulkOp, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		op, err := parseBulkItem(i, raw)
		if err != nil {
			return nil, err
		}
		k := identityKey(op.DeviceID, op.ModuleID)
		if seen[k] {
			return nil, errcode.New(errcode.DeviceDefinedMultipleTimes, "The identity %q is named more than once; a bulk call may name each identity once.", k)
		}
		seen[k] = true
		ops = append(ops, op)
	}
	return ops, nil
}

func parseBulkItem(i int, raw json.RawMessage) (BulkOp, error) {
	var it bulkItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return BulkOp{}, errcode.New(errcode.ArgumentInvalid, "Item %d is not an ExportImportDevice object.", i)
	}
	return bulkOpOf(i, it, false)
}

// bulkOpOf checks a decoded item. An import line (importing) may carry
// reported properties, as an export writes them: they are ignored.
func bulkOpOf(i int, it bulkItem, importing bool) (BulkOp, error) {
	if it.ID == nil || *it.ID == "" {
		return BulkOp{}, errcode.New(errcode.ArgumentNull, "Item %d has no id.", i)
	}
	if it.ImportMode == nil {
		return BulkOp{}, errcode.New(errcode.ArgumentNull, "Item %d (%s) has no importMode.", i, *it.ID)
	}
	op := BulkOp{DeviceID: *it.ID, ModuleID: it.ModuleID, ETag: it.ETag, TwinETag: it.TwinETag}
	for _, m := range bulkModes {
		if strings.EqualFold(m, *it.ImportMode) {
			op.Mode = m
		}
	}
	if op.Mode == "" {
		return BulkOp{}, errcode.New(errcode.ArgumentInvalid, "Item %d (%s): importMode %q is not one of %s.", i, *it.ID, *it.ImportMode, strings.Join(bulkModes, ", "))
	}

	// The identity as the PUT body the registry's single-identity path
	// parses, so both paths apply the same rules.
	ident := map[string]json.RawMessage{}
	idJSON, _ := json.Marshal(op.DeviceID)
	ident["deviceId"] = idJSON
	if op.ModuleID != "" {
		midJSON, _ := json.Marshal(op.ModuleID)
		ident["moduleId"] = midJSON
	}
	for name, v := range map[string]json.RawMessage{
		"status": it.Status, "statusReason": it.StatusReason, "authentication": it.Auth,
		"capabilities": it.Capabilities, "deviceScope": it.DeviceScope, "parentScopes": it.ParentScopes,
	} {
		if len(v) > 0 {
			ident[name] = v
		}
	}
	op.identity, _ = json.Marshal(ident)

	// A twin section that breaks the twin's rules fails its item, as an
	// invalid identity does.
	u, ok, err := bulkTwin(it, importing)
	switch {
	case err != nil:
		op.invalid = err
	case ok:
		op.twin = &u
	}
	if (op.Mode == BulkUpdateTwin || op.Mode == BulkUpdateTwinIfMatchETag) && op.twin == nil && op.invalid == nil {
		return BulkOp{}, errcode.New(errcode.ArgumentNull, "Item %d (%s): %s needs tags or properties.desired.", i, *it.ID, op.Mode)
	}
	return op, nil
}

// bulkTwin decodes an item's tags and properties.desired with the rules of
// a twin PATCH ($metadata and $version, which a read twin carries, are
// dropped); ok is false when it carries neither. Reported properties
// belong to the device: refused, or ignored when importing.
func bulkTwin(it bulkItem, importing bool) (u twin.ServiceUpdate, ok bool, err error) {
	doc := map[string]json.RawMessage{}
	if isJSONValue(it.Tags) {
		doc["tags"] = it.Tags
	}
	if isJSONValue(it.Properties) {
		var props map[string]json.RawMessage
		if err := json.Unmarshal(it.Properties, &props); err != nil {
			return u, false, errcode.New(errcode.ArgumentInvalid, "properties must be a JSON object.")
		}
		for k, v := range props {
			switch k {
			case "desired":
				if isJSONValue(v) {
					doc["properties"], _ = json.Marshal(map[string]json.RawMessage{"desired": v})
				}
			case "reported":
				if isJSONValue(v) && !importing {
					return u, false, errcode.New(errcode.ArgumentInvalid, "properties.reported are written by the device, not by a bulk registry call.")
				}
			default:
				return u, false, errcode.New(errcode.ArgumentInvalid, "properties.%s is not a twin section.", k)
			}
		}
	}
	if len(doc) == 0 {
		return u, false, nil
	}
	body, _ := json.Marshal(doc)
	u, err = twin.ParseServiceBody(body)
	return u, err == nil, err
}

// isJSONValue reports whether a member was present and not null.
func isJSONValue(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s != "" && s != "null"
}

// BulkResult is IoT Hub's BulkRegistryOperationResult.
type BulkResult struct {
	IsSuccessful bool          `json:"isSuccessful"`
	Errors       []BulkError   `json:"errors"`
	Warnings     []BulkWarning `json:"warnings"`
}

// BulkError is the failure of one item: errorCode is the error's IoT Hub
// name, errorStatus its text.
type BulkError struct {
	DeviceID    string `json:"deviceId"`
	ModuleID    string `json:"moduleId,omitempty"`
	ErrorCode   string `json:"errorCode"`
	ErrorStatus string `json:"errorStatus"`
	Operation   string `json:"operation"`
}

// BulkWarning is IoT Hub's DeviceRegistryOperationWarning; the emulator
// issues none.
type BulkWarning struct {
	DeviceID      string `json:"deviceId"`
	WarningCode   string `json:"warningCode"`
	WarningStatus string `json:"warningStatus"`
}

// BulkRegistry applies each item in order, each through the single-identity
// write path under its device's lock, so every item is applied whole or
// not at all; one item failing does not stop the others.
func (h *Hub) BulkRegistry(ctx context.Context, ops []BulkOp) BulkResult {
	res := BulkResult{IsSuccessful: true, Errors: []BulkError{}, Warnings: []BulkWarning{}}
	for _, op := range ops {
		if err := h.bulkApply(ctx, op); err != nil {
			e := errcode.From(err)
			if e.Code == errcode.ServerError && e.Err != nil {
				h.log.Error("bulk registry item failed", "device", op.DeviceID, "err", e.Err)
			}
			res.IsSuccessful = false
			res.Errors = append(res.Errors, BulkError{
				DeviceID: op.DeviceID, ModuleID: op.ModuleID, Operation: op.Mode,
				ErrorCode: e.Code.Name(), ErrorStatus: e.Message,
			})
		}
	}
	return res
}

func (h *Hub) bulkApply(ctx context.Context, op BulkOp) error {
	if op.invalid != nil && op.Mode != BulkDelete && op.Mode != BulkDeleteIfMatchETag {
		return op.invalid
	}
	switch op.Mode {
	case BulkDelete:
		return h.remove(ctx, op.DeviceID, op.ModuleID, "")
	case BulkDeleteIfMatchETag:
		return h.remove(ctx, op.DeviceID, op.ModuleID, ifMatchOf(op.ETag))
	case BulkUpdateTwin, BulkUpdateTwinIfMatchETag:
		ifMatch := ""
		if op.Mode == BulkUpdateTwinIfMatchETag {
			ifMatch = ifMatchOf(op.TwinETag)
		}
		return h.bulkTwinUpdate(ctx, op, ifMatch)
	}
	in, err := parseInput(op.DeviceID, op.ModuleID, op.identity)
	if err != nil {
		return err
	}
	ifMatch := ""
	exists := h.get(identityKey(op.DeviceID, op.ModuleID)) != nil
	switch {
	case op.Mode == BulkCreate:
	case !exists:
		// update and updateIfMatchETag add an identity that is missing.
	case op.Mode == BulkUpdate:
		ifMatch = "*"
	default:
		ifMatch = ifMatchOf(op.ETag)
	}
	_, err = h.putParsed(ctx, op.DeviceID, op.ModuleID, in, ifMatch, op.twin)
	return err
}

// bulkTwinUpdate merges an item's tags and desired properties into an
// existing twin, as a twin PATCH does.
func (h *Hub) bulkTwinUpdate(ctx context.Context, op BulkOp, ifMatch string) error {
	unlock := h.locks.Lock(op.DeviceID)
	defer unlock()
	cur, err := h.lookup(op.DeviceID, op.ModuleID)
	if err != nil {
		return err
	}
	if !etagMatches(ifMatch, cur.twin.ETag()) {
		return errcode.New(errcode.PreconditionFailed, "Precondition failed: the twin etag %s does not match the twin's current etag %s.", ifMatch, cur.twin.ETag())
	}
	tw, change, err := cur.twin.Patched(*op.twin, h.now())
	if err != nil {
		return err
	}
	next := cur.with()
	next.twin = tw
	if err := h.commit(ctx, identityKey(op.DeviceID, op.ModuleID), next); err != nil {
		return err
	}
	if change.Changed {
		h.sendDesired(op.DeviceID, op.ModuleID, change)
	}
	h.stats.twinOps.Inc("patch")
	return nil
}

// ifMatchOf is the condition of an *IfMatchETag item: its etag, and an
// etag that matches nothing when the item carries none.
func ifMatchOf(etag string) string {
	if strings.TrimSpace(etag) == "" {
		return `""`
	}
	return etag
}
