package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds one commit so a flood of writers cannot build an unbounded transaction.
const maxBatch = 512

// File is the Store kept in one bbolt file, written through a write-ahead
// log.
//
// A commit is one record appended to the log and one fdatasync; bbolt's
// own commit syncs twice and writes every page it touched, several times
// the cost. A committed write is then served from memory (the overlay)
// until a checkpoint, behind the writers, has applied its segment of the
// log to bbolt in one transaction and the segment is removed. A start
// replays what the log holds that bbolt does not; Close checkpoints
// everything, so a cleanly closed store is the bbolt file alone.
type File struct {
	path    string
	db      *bolt.DB
	commits *Batcher[*applyReq]
	once    sync.Once
	err     error // of closing the file

	segSize int64 // the largest a segment grows to

	// Owned by the committer (the Batcher's goroutine; Open and Close
	// before and after it runs).
	seg     *segment
	segNext uint64 // number of the next segment
	seq     uint64 // of the last record written
	failed  error  // a log write failed: nothing more is accepted
	ckpt    chan struct{}
	spare   chan spareSegment // the next segment, being readied; nil if not begun

	// recycled holds a full-size segment whose records bbolt holds, for
	// the next spare: writing over it costs no zeroing.
	recycled chan *segment

	// checkpointHook, when set (by tests), runs before a checkpoint
	// writes to bbolt, so a test can stop it there and copy the files as
	// a crash would leave them.
	checkpointHook func()

	mu      sync.RWMutex
	active  *overlay // committed since the last checkpoint began
	frozen  *overlay // being checkpointed, nil when no checkpoint runs
	ckptErr error    // of the last checkpoint
}

var _ Store = (*File)(nil)

// applyReq is one Apply waiting for its commit, or, with flush set, a
// request to checkpoint everything committed so far.
type applyReq struct {
	ops   []Op
	flush bool
	err   error
}

// overlay is what the log holds and bbolt does not yet: per bucket, each
// key's latest value, nil for a delete.
type overlay struct {
	buckets map[string]map[string][]byte
	seq     uint64 // of the last record in it
}

func newOverlay() *overlay { return &overlay{buckets: map[string]map[string][]byte{}} }

func (o *overlay) put(rec logRecord) {
	for _, op := range rec.ops {
		b := o.buckets[op.Bucket]
		if b == nil {
			b = map[string][]byte{}
			o.buckets[op.Bucket] = b
		}
		b[op.Key] = op.Value
	}
	o.seq = rec.seq
}

func (o *overlay) get(bucket, key string) ([]byte, bool) {
	v, ok := o.buckets[bucket][key]
	return v, ok
}

func (o *overlay) empty() bool { return len(o.buckets) == 0 }

// Open opens (creating if needed) the database at path, and replays the
// write-ahead log that a crash left beside it.
func Open(path string) (*File, error) {
	return openFile(path, defaultSegmentSize)
}

func openFile(path string, segSize int64) (*File, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another process holds the database (is an emulator already running on this data dir?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var seq uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range append([]string{metaBucket}, buckets...) {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		if v := tx.Bucket([]byte(metaBucket)).Get([]byte(metaSeqKey)); len(v) == 8 {
			seq = binary.LittleEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets: %w", err)
	}
	s := &File{path: path, db: db, segSize: segSize, seq: seq, active: newOverlay(), recycled: make(chan *segment, 1)}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.commits = NewBatcher(maxBatch, s.commit)
	return s, nil
}

// recover replays the log's records that bbolt does not hold, in order,
// writes them to bbolt, removes the old segments and starts a new one.
// Each segment is read up to its first record that is torn or does not
// follow the one before: the end of what was written to it (a recycled
// segment holds older records past that), or what a crash cut off, which
// no writer was told was committed. Records at or below the sequence
// number reached are in bbolt or already replayed.
func (s *File) recover() error {
	ns, err := listSegments(s.path)
	if err != nil {
		return err
	}
	endOfSegment := errors.New("end of segment")
	for _, n := range ns {
		err := readSegment(segmentPath(s.path, n), func(rec logRecord) error {
			switch {
			case rec.seq <= s.seq:
				return nil
			case rec.seq != s.seq+1:
				return endOfSegment
			}
			s.active.put(rec)
			s.seq = rec.seq
			return nil
		})
		if err != nil && !errors.Is(err, endOfSegment) {
			return err
		}
	}
	if !s.active.empty() {
		if err := s.writeBack(s.active); err != nil {
			return err
		}
		s.active = newOverlay()
	}
	for _, n := range ns {
		if err := os.Remove(segmentPath(s.path, n)); err != nil {
			return fmt.Errorf("remove log segment: %w", err)
		}
	}
	if len(ns) > 0 {
		s.segNext = ns[len(ns)-1] + 1
	}
	// Zeroed while the store opens: small enough to cost a few
	// milliseconds, and the log's first commits are as quick as the rest.
	g, err := createSegment(s.path, s.segNext, min(firstSegmentSize, s.segSize), true)
	if err != nil {
		return err
	}
	s.seg = g
	s.segNext++
	return nil
}

type spareSegment struct {
	seg *segment
	err error
}

// nextSegment makes the committer write to a new segment: the spare if
// one was prepared, else one only allocated, which is quick to make and
// slower to write.
func (s *File) nextSegment() error {
	if s.spare != nil {
		r := <-s.spare
		s.spare = nil
		if r.err == nil {
			s.seg = r.seg
			return nil
		}
	}
	g, err := createSegment(s.path, s.segNext, s.nextSize(), false)
	if err != nil {
		return err
	}
	s.seg = g
	s.segNext++
	return nil
}

// prepareSpare readies the next segment behind the committer, once the
// active one is half full, so that a store that never fills one (most
// tests, a quiet hub) never writes one: a recycled segment renamed, or a
// new one zeroed.
func (s *File) prepareSpare() {
	n, size := s.segNext, s.nextSize()
	s.segNext++
	ch := make(chan spareSegment, 1)
	s.spare = ch
	go func() {
		select {
		case g := <-s.recycled:
			if g.size == size && g.renumber(segmentPath(s.path, n)) == nil {
				ch <- spareSegment{seg: g}
				return
			}
			g.remove()
		default:
		}
		g, err := createSegment(s.path, n, size, true)
		ch <- spareSegment{g, err}
	}()
}

// recycle keeps a segment whose records bbolt holds for the next spare,
// if it is of the largest size and none is kept yet, else removes it.
func (s *File) recycle(g *segment) error {
	if g.size == s.segSize {
		select {
		case s.recycled <- g:
			return nil
		default:
		}
	}
	return g.remove()
}

// dropRecycled removes a recycled segment nobody will write.
func (s *File) dropRecycled() {
	select {
	case g := <-s.recycled:
		g.remove()
	default:
	}
}

func (s *File) nextSize() int64 { return min(2*s.seg.size, s.segSize) }

// dropSpare removes a spare segment nobody will write.
func (s *File) dropSpare() {
	if s.spare != nil {
		if r := <-s.spare; r.err == nil {
			r.seg.remove()
		}
		s.spare = nil
	}
}

// writeBack applies an overlay to bbolt in one transaction, with the
// sequence number of its last record.
func (s *File) writeBack(o *overlay) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		// Keys in order fill bbolt's pages as it splits them best.
		for name, kv := range o.buckets {
			for _, k := range slices.Sorted(maps.Keys(kv)) {
				if err := putOp(tx, name, k, kv[k]); err != nil {
					return err
				}
			}
		}
		return putSeq(tx, o.seq)
	})
}

// putOp writes one op into its bucket: value nil deletes key.
func putOp(tx *bolt.Tx, bucket, key string, value []byte) error {
	b := tx.Bucket([]byte(bucket))
	if appendOrdered(bucket) {
		// bbolt splits a full page in half, which suits keys that land
		// anywhere; keys that only grow would leave every page half
		// empty behind them, twice the pages to write and to keep.
		b.FillPercent = 1.0
	}
	var err error
	if value == nil {
		err = b.Delete([]byte(key))
	} else {
		err = b.Put([]byte(key), value)
	}
	if err != nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	return nil
}

// appendOrdered reports whether a bucket's keys are written in increasing
// order: the message logs, keyed by their sequence numbers (a few other
// keys of theirs sort after every message's).
func appendOrdered(bucket string) bool {
	switch bucket {
	case Telemetry, Feedback, FileNotifications:
		return true
	}
	return false
}

// putSeq records the sequence number of the last record bbolt holds.
func putSeq(tx *bolt.Tx, seq uint64) error {
	return tx.Bucket([]byte(metaBucket)).Put([]byte(metaSeqKey), binary.LittleEndian.AppendUint64(nil, seq))
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

// commit writes a batch of Applies as one log record: they become durable
// together, or fail together. checkOps has refused what does not encode,
// so what fails here is the disk, which would fail each of them alone
// too. After a failed write the log's tail is unknown, so the store takes
// nothing more: a restart replays what was committed.
func (s *File) commit(batch []*applyReq) {
	err := s.failed
	flush := false
	if err == nil {
		var ops []Op
		for _, r := range batch {
			ops = append(ops, r.ops...)
			flush = flush || r.flush
		}
		switch {
		case len(ops) == 0:
		case int64(opsSize(ops)) > s.segSize/2:
			// It would have a segment, and so a checkpoint, nearly to
			// itself: written to bbolt directly, it is written once.
			err = s.commitDirect(ops)
		default:
			err = s.append(ops)
		}
	}
	if err == nil && flush {
		err = s.checkpoint(true)
	}
	for _, r := range batch {
		r.err = err
	}
}

func opsSize(ops []Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value)
	}
	return n
}

// commitDirect commits a large batch in one bbolt transaction, after a
// checkpoint so that nothing older in the log can be read over it or
// replayed after it. It takes the next sequence number like a record.
func (s *File) commitDirect(ops []Op) error {
	if err := s.checkpoint(true); err != nil {
		return err
	}
	seq := s.seq + 1
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, op := range ops {
			if err := putOp(tx, op.Bucket, op.Key, op.Value); err != nil {
				return err
			}
		}
		return putSeq(tx, seq)
	})
	if err != nil {
		return closedErr(err) // rolled back: nothing of it was written
	}
	s.seq = seq
	return nil
}

func (s *File) append(ops []Op) error {
	rec, put := encodeRecord(s.seq+1, ops)
	if s.seg.off > 0 && s.seg.off+int64(len(rec)) > s.seg.size {
		if err := s.checkpoint(false); err != nil {
			return err
		}
	}
	if err := s.seg.write(rec); err != nil {
		s.failed = fmt.Errorf("store: the write-ahead log failed, restart to recover: %w", err)
		return s.failed
	}
	s.seq++
	if s.spare == nil && s.seg.off > s.seg.size/2 {
		s.prepareSpare()
	}
	s.mu.Lock()
	s.active.put(put)
	s.mu.Unlock()
	return nil
}

// checkpoint moves to a new segment and writes the old one's overlay to
// bbolt behind the writers; wait waits for that to finish. One checkpoint
// runs at a time: the next waits for the one before, which is what holds
// the log, and the memory behind it, to two segments.
func (s *File) checkpoint(wait bool) error {
	if err := s.awaitCheckpoint(); err != nil {
		return err
	}
	if s.active.empty() {
		return nil
	}
	old := s.seg
	if err := s.nextSegment(); err != nil {
		return err
	}
	s.mu.Lock()
	frozen := s.active
	s.frozen, s.active = frozen, newOverlay()
	s.mu.Unlock()
	done := make(chan struct{})
	s.ckpt = done
	go func() {
		defer close(done)
		if hook := s.checkpointHook; hook != nil {
			hook()
		}
		err := s.writeBack(frozen)
		if err == nil {
			err = s.recycle(old)
		}
		s.mu.Lock()
		if err == nil {
			s.frozen = nil
		} else {
			s.ckptErr = fmt.Errorf("store: write the log into the database: %w", closedErr(err))
		}
		s.mu.Unlock()
	}()
	if wait {
		return s.awaitCheckpoint()
	}
	return nil
}

func (s *File) awaitCheckpoint() error {
	if s.ckpt != nil {
		<-s.ckpt
		s.ckpt = nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ckptErr
}

// flush checkpoints everything committed before it, so bbolt alone holds
// every record.
func (s *File) flush() error {
	s.mu.RLock()
	clean := s.active.empty() && s.frozen == nil
	s.mu.RUnlock()
	if clean {
		return nil
	}
	r := &applyReq{flush: true}
	if err := s.commits.Do(context.Background(), r); err != nil {
		return err
	}
	return r.err
}

// ForEach calls fn for every record of bucket in key order. Records still
// in the log are checkpointed first, so that the walk is bbolt's, over
// one snapshot; the hub walks buckets when it starts, when the log is
// empty.
func (s *File) ForEach(bucket string, fn func(key string, value []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	if err := s.flush(); err != nil {
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
	s.mu.RLock()
	v, ok := s.active.get(bucket, key)
	if !ok && s.frozen != nil {
		v, ok = s.frozen.get(bucket, key)
	}
	s.mu.RUnlock()
	if ok {
		if v == nil {
			return nil, s.closedCheck()
		}
		return append([]byte{}, v...), s.closedCheck()
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

// closedCheck reports ErrClosed once the store is closed, as bbolt does
// for reads that reach it.
func (s *File) closedCheck() error {
	return closedErr(s.db.View(func(*bolt.Tx) error { return nil }))
}

// Check runs bbolt's consistency check, after a checkpoint.
func (s *File) Check() error {
	if err := s.flush(); err != nil {
		return err
	}
	return closedErr(s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}))
}

// Close stops accepting writes, waits for the writes already taken to
// commit, writes the log into bbolt, removes it and closes the file. Every
// write acknowledged before Close is on disk, and the bbolt file alone
// holds it. Later calls return the first call's result.
func (s *File) Close() error {
	s.once.Do(func() {
		s.commits.Close()
		err := errors.Join(s.failed, s.awaitCheckpoint())
		s.dropSpare()
		s.dropRecycled()
		if err == nil && !s.active.empty() {
			err = s.writeBack(s.active)
		}
		if err == nil {
			err = s.seg.remove()
		} else {
			s.seg.f.Close() // the log keeps what bbolt may not have
		}
		s.err = errors.Join(err, s.db.Close())
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
