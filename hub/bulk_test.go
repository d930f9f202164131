package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

func TestParseBulkRefusesWholeRequest(t *testing.T) {
	many := make([]string, MaxBulkDevices+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"id":"d%d","importMode":"create"}`, i)
	}
	cases := []struct {
		name string
		body string
		want errcode.Code
	}{
		{"not JSON", `{`, errcode.ArgumentInvalid},
		{"an object", `{"id":"d1","importMode":"create"}`, errcode.ArgumentInvalid},
		{"null", `null`, errcode.ArgumentInvalid},
		{"empty", `[]`, errcode.ArgumentInvalid},
		{"over 100", "[" + strings.Join(many, ",") + "]", errcode.TooManyDevices},
		{"no id", `[{"importMode":"create"}]`, errcode.ArgumentNull},
		{"empty id", `[{"id":"","importMode":"create"}]`, errcode.ArgumentNull},
		{"no mode", `[{"id":"d1"}]`, errcode.ArgumentNull},
		{"unknown mode", `[{"id":"d1","importMode":"upsert"}]`, errcode.ArgumentInvalid},
		{"item not an object", `[1]`, errcode.ArgumentInvalid},
		{"repeated id", `[{"id":"d1","importMode":"create"},{"id":"d1","importMode":"delete"}]`, errcode.DeviceDefinedMultipleTimes},
		{"twin mode without twin", `[{"id":"d1","importMode":"updateTwin"}]`, errcode.ArgumentNull},
		{"invalid unicode", "[{\"id\":\"d\xff\",\"importMode\":\"create\"}]", errcode.ArgumentInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBulk([]byte(tc.body))
			wantCode(t, err, tc.want)
		})
	}
}

func TestParseBulkAcceptsSDKSpellings(t *testing.T) {
	// The Node SDK's updateDevices passes a Device through: deviceId
	// renamed id, "etag" lowercase, read-only members, "Update".
	ops, err := ParseBulk([]byte(`[
		{"id":"d1","importMode":"Update","etag":"MQ==","connectionState":"Disconnected","generationId":"g"},
		{"id":"d1","moduleId":"m1","importMode":"DELETEIFMATCHETAG","eTag":"Mg=="}]`))
	if err != nil {
		t.Fatal(err)
	}
	if ops[0].Mode != BulkUpdate || ops[0].ETag != "MQ==" || ops[1].Mode != BulkDeleteIfMatchETag || ops[1].ModuleID != "m1" {
		t.Fatalf("ops = %+v", ops)
	}
}

func bulk(t *testing.T, h *Hub, body string) BulkResult {
	t.Helper()
	ops, err := ParseBulk([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return h.BulkRegistry(context.Background(), ops)
}

func TestBulkRegistryModes(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	res := bulk(t, h, `[
		{"id":"a","importMode":"create","status":"disabled","tags":{"site":"x"},"properties":{"desired":{"rate":5}}},
		{"id":"b","importMode":"create","authentication":{"type":"sas","symmetricKey":{"primaryKey":"`+key1+`","secondaryKey":"`+key2+`"}}}]`)
	if !res.IsSuccessful || len(res.Errors) != 0 || res.Warnings == nil {
		t.Fatalf("create: %+v", res)
	}
	a, err := h.GetDevice(ctx, "a")
	if err != nil || a.Status != "disabled" {
		t.Fatalf("a = %+v, %v", a, err)
	}
	tw, _ := h.GetTwin(ctx, "a", "")
	if tags, _ := json.Marshal(tw["tags"]); string(tags) != `{"site":"x"}` {
		t.Fatalf("tags of a = %s", tags)
	}
	if b, _ := h.GetDevice(ctx, "b"); b.Authentication.SymmetricKey.PrimaryKey != key1 {
		t.Fatalf("b's key = %+v", b.Authentication.SymmetricKey)
	}

	// update: unconditional (and adds a missing one); updateIfMatchETag
	// checks the etag; a stale one fails only its own item.
	res = bulk(t, h, fmt.Sprintf(`[
		{"id":"a","importMode":"update","status":"enabled"},
		{"id":"b","importMode":"updateIfMatchETag","eTag":%q,"status":"disabled"},
		{"id":"c","importMode":"update"},
		{"id":"a2","importMode":"updateIfMatchETag","eTag":"stale"}]`, mustDevice(t, h, "b").ETag))
	if !res.IsSuccessful {
		t.Fatalf("update: %+v", res)
	}
	if mustDevice(t, h, "a").Status != "enabled" || mustDevice(t, h, "b").Status != "disabled" || mustDevice(t, h, "c").DeviceID != "c" {
		t.Fatal("updates not applied")
	}
	res = bulk(t, h, `[{"id":"a","importMode":"updateIfMatchETag","eTag":"stale","status":"disabled"},{"id":"c","importMode":"updateIfMatchETag","status":"disabled"}]`)
	if res.IsSuccessful || len(res.Errors) != 2 || res.Errors[0].ErrorCode != "PreconditionFailed" || res.Errors[1].ErrorCode != "PreconditionFailed" {
		t.Fatalf("stale etags: %+v", res)
	}
	if mustDevice(t, h, "a").Status != "enabled" {
		t.Fatal("a refused update was applied")
	}

	// Twin updates, with and without the twin's etag.
	twinETag := func(id string) string { tw, _ := h.GetTwin(ctx, id, ""); return tw["etag"].(string) }
	res = bulk(t, h, fmt.Sprintf(`[{"id":"a","importMode":"updateTwinIfMatchETag","twinETag":%q,"tags":{"floor":2}},{"id":"b","importMode":"updateTwinIfMatchETag","twinETag":"AAAA","tags":{"floor":3}}]`, twinETag("a")))
	if res.IsSuccessful || len(res.Errors) != 1 || res.Errors[0].DeviceID != "b" || res.Errors[0].ErrorCode != "PreconditionFailed" {
		t.Fatalf("twin updates: %+v", res)
	}
	tw, _ = h.GetTwin(ctx, "a", "")
	if tags, _ := json.Marshal(tw["tags"]); string(tags) != `{"floor":2,"site":"x"}` {
		t.Fatalf("tags of a = %s", tags)
	}

	// Deletes: one by etag, one stale, one unknown.
	res = bulk(t, h, fmt.Sprintf(`[{"id":"a","importMode":"deleteIfMatchETag","eTag":%q},{"id":"b","importMode":"deleteIfMatchETag","eTag":"stale"},{"id":"c","importMode":"delete"},{"id":"zz","importMode":"delete"}]`, mustDevice(t, h, "a").ETag))
	if res.IsSuccessful || len(res.Errors) != 2 || res.Errors[0].DeviceID != "b" || res.Errors[1].ErrorCode != "DeviceNotFound" || res.Errors[1].Operation != BulkDelete {
		t.Fatalf("deletes: %+v", res)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": false} {
		if _, err := h.GetDevice(ctx, id); (err == nil) != want {
			t.Errorf("device %s exists = %v, want %v", id, err == nil, want)
		}
	}
}

func TestBulkRegistryPartialFailureIsPerDevice(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	if _, err := h.PutDevice(ctx, "taken", []byte(`{"deviceId":"taken"}`), ""); err != nil {
		t.Fatal(err)
	}
	before := mustDevice(t, h, "taken")
	res := bulk(t, h, `[
		{"id":"new1","importMode":"create"},
		{"id":"taken","importMode":"create","status":"disabled"},
		{"id":"bad key","importMode":"create","authentication":{"type":"sas","symmetricKey":{"primaryKey":"not base64!","secondaryKey":"x"}}},
		{"id":"new2","importMode":"create","tags":{"big":"`+strings.Repeat("x", 9000)+`"}},
		{"id":"new3","importMode":"create"},
		{"id":"new4","importMode":"create","properties":{"reported":{"a":1}}},
		{"id":"new5","importMode":"create","tags":{"$a":1}}]`)
	codes := map[string]string{}
	for _, e := range res.Errors {
		codes[e.DeviceID] = e.ErrorCode
	}
	if res.IsSuccessful || codes["taken"] != "DeviceAlreadyExists" || codes["bad key"] == "" || codes["new2"] == "" || codes["new4"] != "ArgumentInvalid" || codes["new5"] != "ArgumentInvalid" || len(codes) != 5 {
		t.Fatalf("result = %+v", res)
	}
	for id, want := range map[string]bool{"new1": true, "new3": true, "bad key": false, "new2": false, "new4": false, "new5": false} {
		if _, err := h.GetDevice(ctx, id); (err == nil) != want {
			t.Errorf("device %q exists = %v, want %v", id, err == nil, want)
		}
	}
	if after := mustDevice(t, h, "taken"); after.ETag != before.ETag || after.Status != before.Status {
		t.Fatalf("taken changed: %+v → %+v", before, after)
	}
}

func TestBulkRegistryModules(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	res := bulk(t, h, `[{"id":"d","importMode":"create"},{"id":"d","moduleId":"m","importMode":"create"},{"id":"x","moduleId":"m","importMode":"create"}]`)
	if res.IsSuccessful || len(res.Errors) != 1 || res.Errors[0].DeviceID != "x" || res.Errors[0].ModuleID != "m" || res.Errors[0].ErrorCode != "DeviceNotFound" {
		t.Fatalf("result = %+v", res)
	}
	if _, err := h.GetModule(ctx, "d", "m"); err != nil {
		t.Fatal(err)
	}
	if res := bulk(t, h, `[{"id":"d","moduleId":"m","importMode":"delete"}]`); !res.IsSuccessful {
		t.Fatalf("delete: %+v", res)
	}
	if _, err := h.GetModule(ctx, "d", "m"); !errcode.Is(err, errcode.ModuleNotFound) {
		t.Fatalf("module after delete: %v", err)
	}
}

func TestBulkRegistryDesiredNotifies(t *testing.T) {
	h, rec := newRecordedHub(t)
	bulk(t, h, `[{"id":"d","importMode":"create"}]`)
	if res := bulk(t, h, `[{"id":"d","importMode":"updateTwin","properties":{"desired":{"rate":1}}}]`); !res.IsSuccessful {
		t.Fatalf("result = %+v", res)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.desired) != 1 || !strings.Contains(rec.desired[0], `"rate":1`) {
		t.Fatalf("desired notifications = %q", rec.desired)
	}
}

// Two valid symmetric keys (base64 of 32 bytes).
const (
	key1 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	key2 = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

func mustDevice(t *testing.T, h *Hub, id string) registry.Device {
	t.Helper()
	d, err := h.GetDevice(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

func FuzzParseBulk(f *testing.F) {
	f.Add([]byte(`[{"id":"d1","importMode":"create","tags":{"a":1},"properties":{"desired":{"b":2}}}]`))
	f.Add([]byte(`[{"id":"d1","moduleId":"m","importMode":"Delete","etag":"x"}]`))
	f.Add([]byte(`[{"id":"d1","importMode":"updateTwin","properties":null}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := ParseBulk(body)
		if err != nil {
			if e := errcode.From(err); e.Code.HTTPStatus() >= 500 {
				t.Fatalf("server error for bad input: %v", err)
			}
			return
		}
		if len(ops) == 0 || len(ops) > MaxBulkDevices {
			t.Fatalf("%d ops accepted", len(ops))
		}
		seen := map[string]bool{}
		for _, op := range ops {
			k := identityKey(op.DeviceID, op.ModuleID)
			if op.DeviceID == "" || op.Mode == "" || seen[k] {
				t.Fatalf("op accepted: %+v", op)
			}
			seen[k] = true
		}
	})
}
