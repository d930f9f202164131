package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

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
