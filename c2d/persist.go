package c2d

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/iothub-emulator/iothub-emulator/store"
)

// Keys. In the C2D bucket a message is "{escaped device id}/{sequence}",
// the sequence zero-padded so a device's messages sort in enqueue order and
// the escaping keeps "/" out of the id; sequenceKey (which has no "/")
// holds the sequence reservation. In the Feedback bucket a record is its
// zero-padded sequence, so records sort in outcome order.
const (
	sequenceKey = "sequence"
	seqBlock    = 1000 // sequence numbers reserved per write
)

func messageKey(deviceID string, seq int64) string {
	return url.PathEscape(deviceID) + "/" + fmt.Sprintf("%020d", seq)
}

func feedbackKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

type sequenceRecord struct {
	Reserved int64 `json:"reserved"`
}

func sequenceOp(reserved int64) store.Op {
	b, _ := json.Marshal(sequenceRecord{Reserved: reserved})
	return store.Op{Bucket: store.C2D, Key: sequenceKey, Value: b}
}

// messageOp stores m as queued, without any lock.
func messageOp(m Message) (store.Op, error) {
	m.LockToken = ""
	b, err := json.Marshal(m)
	if err != nil {
		return store.Op{}, fmt.Errorf("c2d: encode message: %w", err)
	}
	return store.Op{Bucket: store.C2D, Key: messageKey(m.DeviceID, m.SequenceNumber), Value: b}, nil
}

// storedFeedback is a feedback record as the Feedback bucket keeps it.
type storedFeedback struct {
	SequenceNumber int64 `json:"sequenceNumber"`
	FeedbackRecord
}

func feedbackOp(f *feedbackEntry) (store.Op, error) {
	b, err := json.Marshal(storedFeedback{SequenceNumber: f.seq, FeedbackRecord: f.rec})
	if err != nil {
		return store.Op{}, fmt.Errorf("c2d: encode feedback: %w", err)
	}
	return store.Op{Bucket: store.Feedback, Key: feedbackKey(f.seq), Value: b}, nil
}

// load reads the queues and feedback back. A record that does not decode,
// or does not match its key, stops the load: guessing would lose or
// duplicate messages.
func (q *Queues) load() error {
	var maxSeq int64
	err := q.store.ForEach(store.C2D, func(key string, value []byte) error {
		if key == sequenceKey {
			var r sequenceRecord
			if err := json.Unmarshal(value, &r); err != nil {
				return fmt.Errorf("record %q: %w", key, err)
			}
			maxSeq = max(maxSeq, r.Reserved)
			return nil
		}
		m, err := decodeMessage(key, value)
		if err != nil {
			return err
		}
		// Keys sort by device, then sequence: this is enqueue order.
		d := q.device(m.DeviceID)
		d.entries = append(d.entries, &entry{msg: m})
		maxSeq = max(maxSeq, m.SequenceNumber)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load messages: %w", err)
	}
	err = q.store.ForEach(store.Feedback, func(key string, value []byte) error {
		f, err := decodeFeedback(key, value)
		if err != nil {
			return err
		}
		q.feedback = append(q.feedback, &feedbackEntry{seq: f.SequenceNumber, rec: f.FeedbackRecord})
		maxSeq = max(maxSeq, f.SequenceNumber)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load feedback: %w", err)
	}
	q.seq, q.seqReserved = maxSeq, maxSeq
	return nil
}

// decodeMessage reads a message record, which must belong under key. Locks
// do not survive a restart, so the result is unlocked.
func decodeMessage(key string, value []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(value, &m); err != nil {
		return Message{}, fmt.Errorf("message %q: %w", key, err)
	}
	if m.DeviceID == "" || m.SequenceNumber <= 0 || messageKey(m.DeviceID, m.SequenceNumber) != key {
		return Message{}, fmt.Errorf("message %q: its device id and sequence number do not match the key", key)
	}
	m.LockToken = ""
	return m, nil
}

// decodeFeedback reads a feedback record, which must belong under key.
func decodeFeedback(key string, value []byte) (storedFeedback, error) {
	var f storedFeedback
	if err := json.Unmarshal(value, &f); err != nil {
		return storedFeedback{}, fmt.Errorf("feedback %q: %w", key, err)
	}
	if f.SequenceNumber <= 0 || feedbackKey(f.SequenceNumber) != key {
		return storedFeedback{}, fmt.Errorf("feedback %q: its sequence number does not match the key", key)
	}
	return f, nil
}
