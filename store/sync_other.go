//go:build !linux

package store

import "os"

// preallocate does nothing where there is no fallocate: the file grows as
// it is written.
func preallocate(*os.File, int64) error { return nil }

// fdatasync falls back to a full sync.
func fdatasync(f *os.File) error { return f.Sync() }
