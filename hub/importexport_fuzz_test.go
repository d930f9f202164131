package hub

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// FuzzImportLine: any line of an import blob is applied or refused with a
// catalogue error, never a panic, and a refused line changes nothing.
func FuzzImportLine(f *testing.F) {
	f.Add(`{"id":"d1","importMode":"create","tags":{"a":1},"properties":{"desired":{"x":1,"$metadata":{},"$version":3},"reported":{"y":2}}}`)
	f.Add(`{"id":"d1","moduleId":"m","importMode":"createOrUpdateIfMatchETag","eTag":"AAA="}`)
	f.Add(`{"id":"d1","importMode":"updateTwin"}`)
	f.Add(`{"id":"d1","importMode":"delete"}`)
	f.Add(`{"properties":[1]}`)
	f.Fuzz(func(t *testing.T, line string) {
		h, err := open(t, Options{Store: store.OpenMemory()})
		if err != nil {
			t.Fatal(err)
		}
		before := exportAll(t, h, false)
		errs := h.ImportDevices(context.Background(), []json.RawMessage{json.RawMessage(line)})
		if len(errs) == 0 {
			return
		}
		if errs[0].ErrorCode == "" {
			t.Fatalf("error without a code: %+v", errs[0])
		}
		if after := exportAll(t, h, false); len(after) != len(before) {
			t.Fatalf("a refused line changed the registry: %d → %d identities", len(before), len(after))
		}
	})
}
