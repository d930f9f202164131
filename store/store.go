// Package store persists the hub's records: buckets of JSON values keyed by
// id, changed only by atomic batches of operations.
//
// Two implementations keep the same contract. Open is one bbolt file with
// a write-ahead log beside it: writes are acknowledged only after their
// record is on disk, and concurrent writers share records (group commit,
// see Batcher), so durability costs one fdatasync per batch instead of
// one per write, and bbolt's own commits, which cost several, happen
// behind the writers (see File).
// OpenMemory keeps the same buckets in maps and leaves nothing on disk, for
// --in-memory and tests. The hub's packages run the same code over either.
package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Buckets the hub uses. Values are JSON so the file can be inspected with
// ordinary bbolt tools.
const (
	Devices   = "devices"
	Modules   = "modules"
	Twins     = "twins"
	Telemetry = "telemetry" // device-to-cloud message log
	C2D       = "c2d"       // cloud-to-device queues
	Feedback  = "feedback"  // cloud-to-device delivery feedback

	FileNotifications = "fileNotifications" // file upload notifications not yet received

	// The Device Provisioning Service's records.
	Enrollments      = "dpsEnrollments"      // individual enrollments
	EnrollmentGroups = "dpsEnrollmentGroups" // enrollment groups
	Registrations    = "dpsRegistrations"    // device registration states

	// Scheduled jobs and automatic device management.
	Jobs           = "jobs"             // jobs v2, by job id
	JobDevices     = "jobDevices"       // per-device job rows, by deviceId/jobId
	Configurations = "configurations"   // configurations, by id
	ImportExport   = "importExportJobs" // import and export jobs, by job id
)

var buckets = []string{Devices, Modules, Twins, Telemetry, C2D, Feedback, FileNotifications, Enrollments, EnrollmentGroups, Registrations, Jobs, JobDevices, Configurations, ImportExport}

// Errors every implementation returns, possibly wrapped with detail.
var (
	// ErrClosed is returned for every call after Close.
	ErrClosed = errors.New("store: closed")
	// ErrUnknownBucket names a bucket that is not one of the constants above.
	ErrUnknownBucket = errors.New("store: unknown bucket")
	// ErrBadKey is an empty key, or one longer than bbolt accepts.
	ErrBadKey = errors.New("store: bad key")
	// ErrValueTooLarge is a value longer than bbolt accepts.
	ErrValueTooLarge = errors.New("store: value too large")
)

// Op is one change: Value nil deletes Key (an empty, non-nil Value stores
// an empty record).
type Op struct {
	Bucket string
	Key    string
	Value  []byte
}

// Store is what the hub's packages persist through.
//
// Apply commits its ops atomically (all or none) and returns once they are
// durable; an op on an unknown bucket or with a bad key fails the whole
// Apply before anything is written. ForEach and Get read committed records;
// ForEach visits a bucket in key order (bytewise, as bbolt sorts) over a
// consistent snapshot, and its values must not be modified. Get returns a
// copy of one record, or nil if there is none. After Close every call
// returns ErrClosed; Close itself may be called more than once.
// Implementations are safe for concurrent use.
type Store interface {
	Apply(ctx context.Context, ops ...Op) error
	ForEach(bucket string, fn func(key string, value []byte) error) error
	Get(bucket, key string) ([]byte, error)
	Close() error
}

// checkOps validates a batch before any of it is written, so both
// implementations refuse the same batches with the same errors.
func checkOps(ops []Op) error {
	for _, op := range ops {
		if err := checkBucket(op.Bucket); err != nil {
			return fmt.Errorf("store: bad op on bucket %q key %q: %w", op.Bucket, op.Key, err)
		}
		if op.Key == "" || len(op.Key) > bolt.MaxKeySize {
			return fmt.Errorf("store: bad op on bucket %q key %q: %w", op.Bucket, op.Key, ErrBadKey)
		}
		if len(op.Value) > bolt.MaxValueSize {
			return fmt.Errorf("store: bad op on bucket %q key %q: %w (%d bytes)", op.Bucket, op.Key, ErrValueTooLarge, len(op.Value))
		}
	}
	return nil
}

func checkBucket(bucket string) error {
	for _, b := range buckets {
		if b == bucket {
			return nil
		}
	}
	return fmt.Errorf("%w %q", ErrUnknownBucket, bucket)
}
