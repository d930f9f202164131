package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds one commit so a flood of writers cannot build an unbounded transaction.
const maxBatch = 512

// File is the Store kept in one bbolt file, with its group committer.
type File struct {
	db      *bolt.DB
	commits *Batcher[*applyReq]
	once    sync.Once
	err     error // of closing the file
}

var _ Store = (*File)(nil)

// applyReq is one Apply waiting for its commit.
type applyReq struct {
	ops []Op
	err error
}

// Open opens (creating if needed) the database at path.
func Open(path string) (*File, error) {
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
	s := &File{db: db}
	s.commits = NewBatcher(maxBatch, s.commit)
	return s, nil
}

// Apply commits ops atomically and returns once they are durable.
func (s *File) Apply(ctx context.Context, ops ...Op) error {
	if err := checkOps(ops); err != nil {
		return err
	}
	r := &applyReq{ops: ops}
	if err := s.commits.Do(ctx, r); err != nil {
		return err
	}
	return r.err
}

// commit writes a batch of Applies in one transaction: they become durable
// together, or fail together. checkOps has refused what bbolt would, so
// what fails here is the file itself, which would fail each of them alone
// too.
func (s *File) commit(batch []*applyReq) {
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
		r.err = closedErr(err)
	}
}

// ForEach calls fn for every record of bucket in key order.
func (s *File) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	return closedErr(s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	}))
}

// Get returns a copy of one record, or nil.
func (s *File) Get(bucket, key string) ([]byte, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bucket)).Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, closedErr(err)
}

// Check runs bbolt's consistency check.
func (s *File) Check() error {
	return closedErr(s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}))
}

// Close stops accepting writes, waits for the writes already taken to
// commit and closes the file. Every write acknowledged before Close is on
// disk. Later calls return the first call's result.
func (s *File) Close() error {
	s.once.Do(func() {
		s.commits.Close()
		s.err = s.db.Close()
	})
	return s.err
}

// closedErr reports bbolt's "database not open" as the package's ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
