package twin_test

import (
	"math"
	"testing"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/twin"
)

func TestDecodedValuesMatchBodies(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tags := map[string]any{"site": "a", "n": 1.0}
	desired := map[string]any{"rate": 2.0, "led": map[string]any{"on": true}}
	reported := map[string]any{"fw": "1.0", "list": []any{1.0, "x"}}

	u, err := twin.ParseServiceBody([]byte(`{"tags":{"site":"a","n":1},"properties":{"desired":{"rate":2,"led":{"on":true}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	fromBody, _, err := twin.New(now).Replaced(u, now)
	if err != nil {
		t.Fatal(err)
	}
	if fromBody, err = fromBody.PatchedReported([]byte(`{"fw":"1.0","list":[1,"x"]}`), now); err != nil {
		t.Fatal(err)
	}
	v, err := twin.NewServiceUpdate(tags, desired)
	if err != nil {
		t.Fatal(err)
	}
	fromValues, _, err := twin.New(now).Replaced(v, now)
	if err != nil {
		t.Fatal(err)
	}
	if fromValues, err = fromValues.PatchedReportedValues(reported, now); err != nil {
		t.Fatal(err)
	}
	a, _ := fromBody.MarshalJSON()
	b, _ := fromValues.MarshalJSON()
	if string(a) != string(b) {
		t.Fatalf("from bodies %s\nfrom values %s", a, b)
	}
	for _, bad := range []map[string]any{{"a.b": 1.0}, {"x": math.NaN()}, {"$v": 1.0}} {
		if _, err := twin.NewServiceUpdate(bad, nil); !errcode.Is(err, errcode.ArgumentInvalid) {
			t.Errorf("tags %v: %v", bad, err)
		}
		if _, err := twin.New(now).PatchedReportedValues(bad, now); !errcode.Is(err, errcode.ArgumentInvalid) {
			t.Errorf("reported %v: %v", bad, err)
		}
	}
	if _, err := twin.NewServiceUpdate(nil, nil); !errcode.Is(err, errcode.ArgumentInvalid) {
		t.Errorf("an empty update: %v", err)
	}
}
