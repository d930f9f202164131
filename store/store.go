// Package store persists the hub's records in one bbolt file.
//
// Writes are acknowledged only after their transaction has committed, and
// concurrent writers share commits (group commit): while one transaction is
// being synced, the writes that arrive queue up and go out together in the
// next, so durability costs one fsync per batch instead of one per write.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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
)

var buckets = []string{Devices, Modules, Twins, Telemetry, C2D, Feedback}

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("store: closed")

// maxBatch bounds one commit so a flood of writers cannot build an unbounded transaction.
const maxBatch = 512

// Op is one change: Value nil deletes Key.
type Op struct {
	Bucket string
	Key    string
	Value  []byte
}

// Store is the bbolt file and its committer.
type Store struct {
	db      *bolt.DB
	commits *Batcher[*applyReq]
	once    sync.Once
	err     error // of closing the file
}

// applyReq is one Apply waiting for its commit.
type applyReq struct {
	ops []Op
	err error
}

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another process holds the database (is an emulator already running on this data dir?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets: %w", err)
	}
	s := &Store{db: db}
	s.commits = NewBatcher(maxBatch, s.commit)
	return s, nil
}

// Apply commits ops atomically and returns once they are durable.
func (s *Store) Apply(ctx context.Context, ops ...Op) error {
	for _, op := range ops {
		if !known(op.Bucket) || op.Key == "" {
			return fmt.Errorf("store: bad op on bucket %q key %q", op.Bucket, op.Key)
		}
	}
	r := &applyReq{ops: ops}
	if err := s.commits.Do(ctx, r); err != nil {
		return err
	}
	return r.err
}

// commit writes a batch of Applies in one transaction: they become durable
// together, or fail together.
func (s *Store) commit(batch []*applyReq) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			for _, op := range r.ops {
				b := tx.Bucket([]byte(op.Bucket))
				var err error
				if op.Value == nil {
					err = b.Delete([]byte(op.Key))
				} else {
					err = b.Put([]byte(op.Key), op.Value)
				}
				if err != nil {
					return fmt.Errorf("%s/%s: %w", op.Bucket, op.Key, err)
				}
			}
		}
		return nil
	})
	for _, r := range batch {
		r.err = err
	}
}

// ForEach calls fn for every record of bucket in key order.
func (s *Store) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if !known(bucket) {
		return fmt.Errorf("store: unknown bucket %q", bucket)
	}
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	})
}

// Get returns a copy of one record, or nil.
func (s *Store) Get(bucket, key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("store: unknown bucket %q", bucket)
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}

// Check runs bbolt's consistency check.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Close stops accepting writes, waits for the writes already taken to
// commit and closes the file. Every write acknowledged before Close is on
// disk. Later calls return the first call's result.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.commits.Close()
		s.err = s.db.Close()
	})
	return s.err
}

func known(bucket string) bool {
	for _, b := range buckets {
		if b == bucket {
			return true
		}
	}
	return false
}
