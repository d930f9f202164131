// Package storetest opens real bbolt stores for tests and, as bbolt's own
// tests do, runs the consistency check on each when its test ends.
package storetest

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// Open opens the bbolt file at path. When the test ends the file is
// checked (unless the test closed it) and closed. Open it before anything
// built on it, so that those close first.
func Open(t testing.TB, path string) *store.File {
	t.Helper()
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("store consistency: %v", err)
		}
		s.Close()
	})
	return s
}

// Temp opens a fresh store in the test's temporary directory, as Open.
func Temp(t testing.TB) *store.File {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "hub.db"))
}
