package d2c

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/iothub-emulator/iothub-emulator/internal/jsonenc"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// metaKey holds the highest sequence number ever given, so numbers are not
// reused after a restart even when retention has deleted every message. It
// cannot be mistaken for a message key, which is always 8 bytes.
const metaKey = "lastSequenceNumber"

type meta struct {
	LastSequenceNumber int64 `json:"lastSequenceNumber"`
}

func metaOp(lastSeq int64) store.Op {
	v, _ := json.Marshal(meta{LastSequenceNumber: lastSeq}) // cannot fail: one int
	return store.Op{Bucket: store.Telemetry, Key: metaKey, Value: v}
}

// partitionsKey holds each partition's next sequence number and offset, so
// they are not reused either, and the partition count they were given
// under. Like metaKey it is never 8 bytes long.
const partitionsKey = "partitions"

type partitionsMeta struct {
	Count int             `json:"count"`
	Next  []partitionMark `json:"next"`
}

type partitionMark struct {
	SequenceNumber int64 `json:"sequenceNumber"` // the next to give
	Offset         int64 `json:"offset"`         // the next to give
}

// partitionsOp records the writer's partition counters.
func (l *Log) partitionsOp() store.Op {
	pm := partitionsMeta{Count: len(l.parts), Next: make([]partitionMark, len(l.parts))}
	for i, p := range l.parts {
		pm.Next[i] = partitionMark{SequenceNumber: p.nextSeq, Offset: p.nextOffset}
	}
	v, _ := json.Marshal(pm) // cannot fail: numbers
	return store.Op{Bucket: store.Telemetry, Key: partitionsKey, Value: v}
}

// record is a message as stored: the read-back JSON plus its partition
// place. The place is pointers so that a record written before partitions
// existed, which lacks them, can be told from one on partition 0.
type record struct {
	Message
	Partition               *int   `json:"partition"`
	PartitionSequenceNumber *int64 `json:"partitionSequenceNumber"`
	Offset                  *int64 `json:"offset"`
}

// encodeRecord writes m's record byte for byte as encoding/json writes
// record, without its reflection: every telemetry message passes here.
func encodeRecord(m Message) ([]byte, error) {
	if y := m.EnqueuedTime.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("d2c: enqueued time %v cannot be written", m.EnqueuedTime)
	}
	b := make([]byte, 0, 256+len(m.Body)*4/3)
	b = append(b, `{"sequenceNumber":`...)
	b = strconv.AppendInt(b, m.SequenceNumber, 10)
	b = append(b, `,"enqueuedTime":"`...)
	b = m.EnqueuedTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","deviceId":`...)
	b = jsonenc.AppendString(b, m.DeviceID)
	if m.ModuleID != "" {
		b = append(b, `,"moduleId":`...)
		b = jsonenc.AppendString(b, m.ModuleID)
	}
	b = append(b, `,"systemProperties":`...)
	b = appendStringMap(b, m.SystemProperties)
	b = append(b, `,"properties":`...)
	b = appendStringMap(b, m.Properties)
	b = append(b, `,"body":`...)
	if m.Body == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, m.Body)
		b = append(b, '"')
	}
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(m.Partition), 10)
	b = append(b, `,"partitionSequenceNumber":`...)
	b = strconv.AppendInt(b, m.PartitionSequenceNumber, 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, m.Offset, 10)
	return append(b, '}'), nil
}

// appendStringMap writes a property bag as encoding/json does: keys in
// order, nil as null.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	// In encoding/json's key order. A message has a handful of keys: sorted
	// in an array on the stack, they cost no allocation.
	var array [16]string
	keys := array[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, m[k])
	}
	return append(b, '}')
}

// deleteChunk bounds the changes Open sends to the store at once.
const deleteChunk = 512

// load reads the log back from the store: it keeps the newest MaxMessages
// messages not older than MaxAge, deletes the rest along with records it
// cannot read, and continues numbering after the highest number ever given.
func (l *Log) load() error {
	var drop []string
	var highest int64
	var pm *partitionsMeta
	allPlaced := true // every record carries a partition place
	err := l.store.ForEach(store.Telemetry, func(k string, v []byte) error {
		if k == partitionsKey {
			var p partitionsMeta
			if err := json.Unmarshal(v, &p); err != nil {
				l.log.Warn("unreadable device-to-cloud partition record ignored", "err", err)
				return nil
			}
			pm = &p
			return nil
		}
		if k == metaKey {
			var mt meta
			if err := json.Unmarshal(v, &mt); err != nil {
				l.log.Warn("unreadable device-to-cloud sequence record ignored", "err", err)
				return nil
			}
			highest = max(highest, mt.LastSequenceNumber)
			return nil
		}
		m, placed, err := decodeRecord(k, v)
		if err != nil {
			l.log.Warn("unreadable device-to-cloud record deleted", "key", keyString(k), "err", err)
			drop = append(drop, k)
			return nil
		}
		allPlaced = allPlaced && placed
		highest = max(highest, m.SequenceNumber)
		if n := l.msgs.len(); n > 0 {
			// Keep the log ordered by time even if the file was edited.
			if prev := l.msgs.at(n - 1).EnqueuedTime; m.EnqueuedTime.Before(prev) {
				m.EnqueuedTime = prev
			}
		}
		if l.msgs.full() {
			drop = append(drop, seqKey(l.msgs.popFront().SequenceNumber))
		}
		l.msgs.push(m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("d2c: load messages: %w", err)
	}
	if l.msgs.len() > 0 {
		l.lastTime = l.msgs.at(l.msgs.len() - 1).EnqueuedTime
	}
	for range l.expiredCount(l.now()) {
		drop = append(drop, seqKey(l.msgs.popFront().SequenceNumber))
	}
	ops := make([]store.Op, 0, len(drop))
	for _, k := range drop {
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: k})
	}
	if allPlaced && l.placementHolds(pm) {
		l.resume(pm)
	} else {
		rewritten, err := l.place(pm, allPlaced)
		if err != nil {
			return err
		}
		ops = append(ops, rewritten...)
	}
	for i := range l.msgs.len() {
		m := *l.msgs.at(i)
		l.parts[m.Partition].msgs.push(m)
	}
	for _, p := range l.parts {
		p.committedNext = p.nextSeq
	}
	for len(ops) > 0 {
		n := min(len(ops), deleteChunk)
		if err := l.store.Apply(context.Background(), ops[:n]...); err != nil {
			return fmt.Errorf("d2c: delete retained-out messages: %w", err)
		}
		ops = ops[n:]
	}
	l.lastSeq = highest
	l.nextSeq = highest + 1
	return nil
}

// placementHolds reports whether the messages held keep the partition places
// they were stored with: the store records the partition count the log has
// now, and every message is on its device's partition with numbers and
// offsets increasing within it (an edited file may break that).
func (l *Log) placementHolds(pm *partitionsMeta) bool {
	n := len(l.parts)
	if pm == nil || pm.Count != n || len(pm.Next) != n {
		return false
	}
	lastSeq := make([]int64, n)
	lastOff := make([]int64, n)
	for i := range n {
		lastSeq[i], lastOff[i] = -1, -1
	}
	for i := range l.msgs.len() {
		m := l.msgs.at(i)
		p := m.Partition
		if p != PartitionOf(m.DeviceID, n) || m.PartitionSequenceNumber <= lastSeq[p] || m.Offset <= lastOff[p] {
			return false
		}
		lastSeq[p], lastOff[p] = m.PartitionSequenceNumber, m.Offset
	}
	return true
}

// resume continues each partition's numbering after both the stored
// counters and the newest message held.
func (l *Log) resume(pm *partitionsMeta) {
	for i, p := range l.parts {
		p.nextSeq, p.nextOffset = pm.Next[i].SequenceNumber, pm.Next[i].Offset
	}
	for i := range l.msgs.len() {
		m := l.msgs.at(i)
		p := l.parts[m.Partition]
		p.nextSeq = max(p.nextSeq, m.PartitionSequenceNumber+1)
		p.nextOffset = max(p.nextOffset, m.Offset+offsetStep(m))
	}
}

// place gives every message held a partition place anew, in hub sequence
// order, and returns the writes that store them. That happens to a store
// written before partitions existed, and when the partition count changed.
// The result depends only on the messages and the stored counters, so it is
// the same whenever it is done. Each partition's numbering starts past
// every number and offset given before under any count (placed: the held
// messages' places count too), so none is reused.
func (l *Log) place(pm *partitionsMeta, placed bool) ([]store.Op, error) {
	var baseSeq, baseOff int64
	if pm != nil {
		for _, mk := range pm.Next {
			baseSeq, baseOff = max(baseSeq, mk.SequenceNumber), max(baseOff, mk.Offset)
		}
	}
	for i := range l.msgs.len() {
		if m := l.msgs.at(i); placed {
			baseSeq, baseOff = max(baseSeq, m.PartitionSequenceNumber+1), max(baseOff, m.Offset+offsetStep(m))
		}
	}
	for _, p := range l.parts {
		p.nextSeq, p.nextOffset = baseSeq, baseOff
	}
	n := l.msgs.len()
	ops := make([]store.Op, 0, n+1)
	for i := range n {
		m := l.msgs.at(i)
		m.Partition = PartitionOf(m.DeviceID, len(l.parts))
		p := l.parts[m.Partition]
		m.PartitionSequenceNumber, m.Offset = p.nextSeq, p.nextOffset
		p.nextSeq++
		p.nextOffset += offsetStep(m)
		v, err := encodeRecord(*m)
		if err != nil {
			return nil, fmt.Errorf("d2c: encode message %d: %w", m.SequenceNumber, err)
		}
		ops = append(ops, store.Op{Bucket: store.Telemetry, Key: seqKey(m.SequenceNumber), Value: v})
	}
	if n == 0 && pm == nil {
		return nil, nil // nothing was ever numbered: nothing to record
	}
	from := "a store without partitions"
	if pm != nil {
		from = fmt.Sprintf("%d partitions", pm.Count)
	}
	l.log.Info("device-to-cloud messages given partition places", "count", n, "from", from, "partitions", len(l.parts))
	return append(ops, l.partitionsOp()), nil
}

// decodeRecord parses one stored message and checks it against its key.
// Records are read in key order, so sequence numbers come out increasing.
// placed reports whether the record carries a partition place that can be
// used as it is (a record from before partitions has none).
func decodeRecord(k string, v []byte) (m Message, placed bool, err error) {
	seq, ok := parseSeqKey(k)
	if !ok {
		return Message{}, false, errors.New("not a sequence-number key")
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return Message{}, false, fmt.Errorf("decode: %w", err)
	}
	m = r.Message
	placed = r.Partition != nil && r.PartitionSequenceNumber != nil && r.Offset != nil &&
		*r.Partition >= 0 && *r.PartitionSequenceNumber >= 0 && *r.Offset >= 0
	if placed {
		m.Partition, m.PartitionSequenceNumber, m.Offset = *r.Partition, *r.PartitionSequenceNumber, *r.Offset
	}
	m, err = checkDecoded(seq, m)
	return m, placed, err
}

// checkDecoded checks a decoded message against its key's sequence number
// and fills in what the JSON may leave out.
func checkDecoded(seq int64, m Message) (Message, error) {
	if m.SequenceNumber != seq {
		return Message{}, fmt.Errorf("record holds sequence number %d", m.SequenceNumber)
	}
	if m.DeviceID == "" {
		return Message{}, errors.New("record has no device id")
	}
	if m.EnqueuedTime.IsZero() {
		return Message{}, errors.New("record has no enqueued time")
	}
	m.EnqueuedTime = m.EnqueuedTime.UTC()
	if m.Body == nil {
		m.Body = []byte{}
	}
	if m.SystemProperties == nil {
		m.SystemProperties = map[string]string{}
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	return m, nil
}
