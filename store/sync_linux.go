package store

import (
	"errors"
	"os"
	"syscall"
)

// preallocate gives f size bytes of disk. Writing into allocated blocks
// spares each sync the file's size change; where the file system cannot
// allocate, the file grows as it is written, slower but as safe.
func preallocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return nil
	}
	return err
}

// fdatasync makes f's data durable without waiting on metadata that
// reading it back does not need.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
