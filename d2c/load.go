package d2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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

// deleteChunk bounds the deletions Open sends to the store at once.
const deleteChunk = 512

// load reads the log back from the store: it keeps the newest MaxMessages
// messages not older than MaxAge, deletes the rest along with records it
// cannot read, and continues numbering after the highest number ever given.
func (l *Log) load() error {
	var drop []string
	var highest int64
	err := l.store.ForEach(store.Telemetry, func(k string, v []byte) error {
		if k == metaKey {
			var mt meta
			if err := json.Unmarshal(v, &mt); err != nil {
				l.log.Warn("unreadable device-to-cloud sequence record ignored", "err", err)
				return nil
			}
			highest = max(highest, mt.LastSequenceNumber)
			return nil
		}
		m, err := decodeRecord(k, v)
		if err != nil {
			l.log.Warn("unreadable device-to-cloud record deleted", "key", keyString(k), "err", err)
			drop = append(drop, k)
			return nil
		}
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
	for len(drop) > 0 {
		n := min(len(drop), deleteChunk)
		ops := make([]store.Op, n)
		for i, k := range drop[:n] {
			ops[i] = store.Op{Bucket: store.Telemetry, Key: k}
		}
		if err := l.store.Apply(context.Background(), ops...); err != nil {
			return fmt.Errorf("d2c: delete retained-out messages: %w", err)
		}
		drop = drop[n:]
	}
	l.lastSeq = highest
	l.nextSeq = highest + 1
	return nil
}

// decodeRecord parses one stored message and checks it against its key.
// Records are read in key order, so sequence numbers come out increasing.
func decodeRecord(k string, v []byte) (Message, error) {
	seq, ok := parseSeqKey(k)
	if !ok {
		return Message{}, errors.New("not a sequence-number key")
	}
	var m Message
	if err := json.Unmarshal(v, &m); err != nil {
		return Message{}, fmt.Errorf("decode: %w", err)
	}
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
