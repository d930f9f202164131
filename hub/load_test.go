package hub

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/storetest"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/store"
)

func TestLoadBucket(t *testing.T) {
	st := store.OpenMemory()
	t.Cleanup(func() { st.Close() })
	const n = 2*loadChunkSize + 123 // chunks take turns, and the last is short
	ops := make([]store.Op, n)
	for i := range n {
		ops[i] = store.Op{Bucket: store.Twins, Key: fmt.Sprintf("k%06d", i), Value: []byte(strconv.Itoa(i))}
	}
	if err := st.Apply(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
	decode := func(_ string, v []byte) (int, error) { return strconv.Atoi(string(v)) }
	errBad := errors.New("bad record")
	tests := []struct {
		name    string
		decode  func(string, []byte) (int, error)
		useErr  int // the record whose use fails; -1: none
		wantErr error
		wantUse int // records used
	}{
		{"all", decode, -1, nil, n},
		{"decode fails", func(k string, v []byte) (int, error) {
			if k == "k005000" {
				return 0, errBad
			}
			return decode(k, v)
		}, -1, errBad, 5000},
		{"use fails", decode, 100, errBad, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := 0
			err := loadBucket(st, store.Twins, tt.decode, func(key string, v int) error {
				if v == tt.useErr {
					return errBad
				}
				if want := fmt.Sprintf("k%06d", used); key != want || v != used {
					return fmt.Errorf("record %d is %s=%d, want %s in key order", used, key, v, want)
				}
				used++
				return nil
			})
			if !errors.Is(err, tt.wantErr) || used != tt.wantUse {
				t.Fatalf("loadBucket = %v after %d records, want %v after %d", err, used, tt.wantErr, tt.wantUse)
			}
		})
	}
}

// TestLoadPairsIdentitiesWithTwins restarts a hub over a store where a
// device, a module and an orphan twin have been written around the hub:
// each identity comes back with its own twin, a twin whose identity is gone
// is left out, and an identity whose twin is gone stops the start.
func TestLoadPairsIdentitiesWithTwins(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	h, st := openHub(t, path)
	for _, id := range []string{"a", "b"} {
		if _, err := h.PutDevice(ctx, id, []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h.UpdateTwin(ctx, id, "", []byte(`{"tags":{"name":"`+id+`"}}`), "", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.PutModule(ctx, "a", "m", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.UpdateTwin(ctx, "a", "m", []byte(`{"tags":{"name":"a/m"}}`), "", false); err != nil {
		t.Fatal(err)
	}
	// An orphan twin: b's identity deleted behind the hub's back.
	if err := st.Apply(ctx, store.Op{Bucket: store.Devices, Key: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	h2, st2 := openHub(t, path)
	for _, key := range []string{"a", "a/m"} {
		dev, mod, _ := strings.Cut(key, "/")
		tw, err := h2.GetTwin(ctx, dev, mod)
		if err != nil {
			t.Fatalf("twin %s after the restart: %v", key, err)
		}
		if got := tw["tags"].(map[string]any)["name"]; got != key {
			t.Fatalf("twin %s came back with the tags of %v", key, got)
		}
	}
	if _, err := h2.GetTwin(ctx, "b", ""); !errcode.Is(err, errcode.DeviceNotFound) {
		t.Fatalf("the orphan twin's device: %v, want DeviceNotFound", err)
	}
	res, err := h2.Query(ctx, "SELECT deviceId FROM devices", query.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("query after the restart = %v, want device a alone", res.Items)
	}

	if err := st2.Apply(ctx, store.Op{Bucket: store.Twins, Key: "a/m"}); err != nil {
		t.Fatal(err)
	}
	if err := st2.Close(); err != nil {
		t.Fatal(err)
	}
	st3 := storetest.Open(t, path)
	_, err = open(t, Options{Store: st3, HostNames: []string{"localhost"}})
	if err == nil || !strings.Contains(err.Error(), `module "a/m" has no twin`) {
		t.Fatalf("a start over a module without its twin: %v, want an error naming it", err)
	}
}
