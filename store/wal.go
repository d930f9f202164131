package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The write-ahead log is a series of segment files beside the bbolt file,
// "<file>.wal.<n>", each a run of records. A record is one committed batch:
//
//	[4] payload length, [4] CRC-32C of the payload, then the payload:
//	[8] sequence number, [4] op count, and per op
//	[1] bucket index, [1] kind (put or delete), [2] key length, key,
//	and for a put [4] value length, value.
//
// Integers are little-endian. Sequence numbers rise by one per record
// across segments; the bbolt file keeps the last one it holds, so a
// record is replayed only if the file does not hold it yet. A segment is
// preallocated and reads as zeros past its last record, so a zero length
// ends it; a short or corrupt record is a write the crash cut off, which
// was never acknowledged.

const (
	recordHeader = 8
	opDelete     = 1
	opPut        = 0

	// defaultSegmentSize is how much log a segment takes before the
	// committer moves to the next and writes the first behind into bbolt.
	// It bounds the memory that records waiting for bbolt hold (two
	// segments' worth at most) and the log a start replays.
	defaultSegmentSize = 16 << 20

	// firstSegmentSize is the segment a store opens with. Segments double
	// from there up to the store's size, so that a store that is written
	// little writes little log.
	firstSegmentSize = 1 << 20

	// metaBucket holds the sequence number of the last record the bbolt
	// file holds. It is the store's own, not one of the hub's buckets.
	metaBucket = "_store"
	metaSeqKey = "walSeq"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errEndOfLog is a segment's end: the zeros past its last record.
var errEndOfLog = errors.New("end of log")

// errTornRecord is a record that is short, fails its checksum or does not
// parse: the end of what was written before a crash.
var errTornRecord = errors.New("torn record")

// logRecord is one decoded batch; its values are slices of the buffer it was
// decoded from.
type logRecord struct {
	seq uint64
	ops []Op
}

func bucketIndex(name string) int {
	return slices.Index(buckets, name)
}

// encodeRecord encodes ops (which have passed checkOps) as the record
// numbered seq, and returns it with the record it reads back as: the same
// keys, and values that are slices of the encoding, so that what the
// overlay keeps of a batch is one allocation and nothing of its callers'.
func encodeRecord(seq uint64, ops []Op) ([]byte, logRecord) {
	size := recordHeader + 12
	for _, op := range ops {
		size += 4 + len(op.Key)
		if op.Value != nil {
			size += 4 + len(op.Value)
		}
	}
	// Sized exactly, so the slices taken below are never left behind by
	// append moving the buffer.
	buf := make([]byte, recordHeader, size)
	rec := logRecord{seq: seq, ops: make([]Op, len(ops))}
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ops)))
	for i, op := range ops {
		rec.ops[i] = Op{Bucket: op.Bucket, Key: op.Key}
		kind := byte(opPut)
		if op.Value == nil {
			kind = opDelete
		}
		buf = append(buf, byte(bucketIndex(op.Bucket)), kind)
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(op.Key)))
		buf = append(buf, op.Key...)
		if kind == opPut {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(op.Value)))
			start := len(buf)
			buf = append(buf, op.Value...)
			rec.ops[i].Value = buf[start:len(buf):len(buf)]
		}
	}
	payload := buf[recordHeader:]
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	return buf, rec
}

// decodeRecord reads the record at the start of b and returns it with the
// bytes it took. It returns errEndOfLog at a zero length and errTornRecord
// for anything that is not a whole, intact record.
func decodeRecord(b []byte) (logRecord, int, error) {
	if len(b) < recordHeader {
		if allZero(b) {
			return logRecord{}, 0, errEndOfLog
		}
		return logRecord{}, 0, errTornRecord
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 {
		return logRecord{}, 0, errEndOfLog
	}
	if uint64(n) > uint64(len(b)-recordHeader) {
		return logRecord{}, 0, errTornRecord
	}
	payload := b[recordHeader : recordHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return logRecord{}, 0, errTornRecord
	}
	rec, err := decodePayload(payload)
	if err != nil {
		return logRecord{}, 0, err
	}
	return rec, recordHeader + int(n), nil
}

func decodePayload(p []byte) (logRecord, error) {
	if len(p) < 12 {
		return logRecord{}, errTornRecord
	}
	rec := logRecord{seq: binary.LittleEndian.Uint64(p)}
	count := binary.LittleEndian.Uint32(p[8:])
	p = p[12:]
	// Every op takes at least 4 bytes, which bounds what count may claim.
	if uint64(count) > uint64(len(p)/4) {
		return logRecord{}, errTornRecord
	}
	rec.ops = make([]Op, 0, count)
	for range count {
		if len(p) < 4 {
			return logRecord{}, errTornRecord
		}
		idx, kind, klen := int(p[0]), p[1], int(binary.LittleEndian.Uint16(p[2:]))
		p = p[4:]
		if idx >= len(buckets) || kind > opDelete || klen == 0 || klen > len(p) {
			return logRecord{}, errTornRecord
		}
		op := Op{Bucket: buckets[idx], Key: string(p[:klen])}
		p = p[klen:]
		if kind == opPut {
			if len(p) < 4 {
				return logRecord{}, errTornRecord
			}
			vlen := binary.LittleEndian.Uint32(p)
			p = p[4:]
			if uint64(vlen) > uint64(len(p)) {
				return logRecord{}, errTornRecord
			}
			op.Value = p[:vlen:vlen]
			p = p[vlen:]
		}
		rec.ops = append(rec.ops, op)
	}
	if len(p) != 0 {
		return logRecord{}, errTornRecord
	}
	return rec, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// segment is one log file being written.
type segment struct {
	f    *os.File
	path string
	off  int64 // where the next record goes
	size int64 // what it was made for; a record that does not fit goes to the next
}

func segmentPath(db string, n uint64) string {
	return db + ".wal." + strconv.FormatUint(n, 10)
}

// listSegments returns the numbers of the log segments of db, in order.
func listSegments(db string) ([]uint64, error) {
	matches, err := filepath.Glob(db + ".wal.*")
	if err != nil {
		return nil, err
	}
	var ns []uint64
	prefix := db + ".wal."
	for _, m := range matches {
		n, err := strconv.ParseUint(strings.TrimPrefix(m, prefix), 10, 64)
		if err != nil {
			continue // not ours
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns, nil
}

// createSegment makes segment n, size bytes long, and makes its directory
// entry durable, so that a record synced into it survives a crash. With
// zeroed the bytes are written (slow, so done ahead of need): a sync after
// writing into blocks already written flushes the data alone, where one
// into blocks only allocated also commits the file system's record of
// them, which on ext4 made each commit two to three times as slow.
func createSegment(db string, n uint64, size int64, zeroed bool) (*segment, error) {
	path := segmentPath(db, n)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log segment: %w", err)
	}
	fill := preallocate
	if zeroed {
		fill = writeZeros
	}
	if err := fill(f, size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("allocate log segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("sync log segment: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &segment{f: f, path: path, size: size}, nil
}

func writeZeros(f *os.File, size int64) error {
	zeros := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return nil
}

// write puts rec at the segment's end and returns once it is on disk.
func (g *segment) write(rec []byte) error {
	if _, err := g.f.WriteAt(rec, g.off); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := fdatasync(g.f); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	g.off += int64(len(rec))
	return nil
}

// renumber makes a recycled segment the one at path, to be written from
// its start. The records left in it are older than any bbolt lacks, so a
// replay skips them.
func (g *segment) renumber(path string) error {
	if err := os.Rename(g.path, path); err != nil {
		return fmt.Errorf("rename log segment: %w", err)
	}
	g.path, g.off = path, 0
	return syncDir(filepath.Dir(path))
}

// remove deletes a segment whose records bbolt holds.
func (g *segment) remove() error {
	g.f.Close()
	return os.Remove(g.path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	return nil
}

// readSegment calls fn for every intact record of the segment at path, in
// order, and stops at its end or at the first torn record.
func readSegment(path string, fn func(logRecord) error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read log segment: %w", err)
	}
	for len(b) > 0 {
		rec, n, err := decodeRecord(b)
		if err != nil {
			return nil // the end, or the tail a crash cut off
		}
		if err := fn(rec); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
