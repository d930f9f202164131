package c2d

import (
	"context"
	"slices"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Feedback status codes, IoT Hub's names.
const (
	StatusSuccess               = "Success"
	StatusExpired               = "Expired"
	StatusDeliveryCountExceeded = "DeliveryCountExceeded"
	StatusRejected              = "Rejected"
)

// FeedbackRecord reports the outcome of one message whose ack mode asked
// for it. EnqueuedTime is when the outcome happened.
type FeedbackRecord struct {
	OriginalMessageID  string    `json:"originalMessageId"`
	EnqueuedTime       time.Time `json:"enqueuedTimeUtc"`
	StatusCode         string    `json:"statusCode"`
	Description        string    `json:"description"`
	DeviceID           string    `json:"deviceId"`
	DeviceGenerationID string    `json:"deviceGenerationId"`
}

// FeedbackBatch is a set of records handed to one receiver, locked until
// CompleteFeedback or AbandonFeedback or the lock timeout.
type FeedbackBatch struct {
	LockToken    string
	EnqueuedTime time.Time // when the batch was handed out
	Records      []FeedbackRecord
}

// feedbackEntry is one kept record.
type feedbackEntry struct {
	seq   int64 // its store key, in outcome order
	rec   FeedbackRecord
	batch *feedbackBatch // the batch holding it, if any; guarded by Queues.mu
}

type feedbackBatch struct {
	token       string
	lockedUntil time.Time
}

// FeedbackContentType is how IoT Hub labels a batch of feedback records
// (the Content-Type of a received batch).
const FeedbackContentType = "application/vnd.microsoft.iothub.feedback.json"

// description explains a status code. IoT Hub's published example carries
// "Success" for a success; the other texts are the emulator's own.
func description(status string) string {
	switch status {
	case StatusExpired:
		return "Message expired"
	case StatusDeliveryCountExceeded:
		return "Message delivery count exceeded"
	case StatusRejected:
		return "Message rejected"
	}
	return status
}

func (q *Queues) newFeedback(ctx context.Context, m Message, status string, now time.Time, gen string) (*feedbackEntry, error) {
	seq, err := q.nextSeq(ctx)
	if err != nil {
		return nil, err
	}
	return &feedbackEntry{seq: seq, rec: FeedbackRecord{
		OriginalMessageID:  m.MessageID,
		EnqueuedTime:       now.UTC(),
		StatusCode:         status,
		Description:        description(status),
		DeviceID:           m.DeviceID,
		DeviceGenerationID: gen,
	}}, nil
}

// Feedback returns every kept feedback record, oldest outcome first.
func (q *Queues) Feedback() []FeedbackRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]FeedbackRecord, 0, len(q.feedback))
	for _, f := range q.feedback {
		out = append(out, f.rec)
	}
	return out
}

// FeedbackAdded returns a channel closed when feedback is next added, so a
// receiver can wait for a batch without polling: take the channel, try
// ReceiveFeedback, and wait on the channel if there was none.
func (q *Queues) FeedbackAdded() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fbReady
}

// ReceiveFeedback hands out every record no receiver holds, locked for the
// lock timeout; ok is false when there is none.
func (q *Queues) ReceiveFeedback() (batch FeedbackBatch, ok bool) {
	q.fbMu.Lock()
	defer q.fbMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return FeedbackBatch{}, false
	}
	now := q.now()
	for token, b := range q.batches {
		if !now.Before(b.lockedUntil) {
			delete(q.batches, token) // its lock ran out: its records are free again
		}
	}
	b := &feedbackBatch{token: newGUID(), lockedUntil: now.Add(q.lockTimeout)}
	for _, f := range q.feedback {
		if f.batch != nil && now.Before(f.batch.lockedUntil) {
			continue
		}
		f.batch = b
		batch.Records = append(batch.Records, f.rec)
	}
	if len(batch.Records) == 0 {
		return FeedbackBatch{}, false
	}
	q.batches[b.token] = b
	batch.LockToken = b.token
	batch.EnqueuedTime = now.UTC()
	return batch, true
}

// CompleteFeedback deletes the records of a received batch. An unknown
// token, or one whose lock ran out, fails with DeviceMessageLockLost.
func (q *Queues) CompleteFeedback(ctx context.Context, lockToken string) error {
	q.fbMu.Lock()
	defer q.fbMu.Unlock()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errClosed()
	}
	b, err := q.heldBatch(lockToken)
	if err != nil {
		q.mu.Unlock()
		return err
	}
	var held []*feedbackEntry
	for _, f := range q.feedback {
		if f.batch == b {
			held = append(held, f)
		}
	}
	q.mu.Unlock()

	if err := q.removeFeedback(ctx, held); err != nil {
		return err
	}
	q.mu.Lock()
	delete(q.batches, lockToken)
	q.mu.Unlock()
	return nil
}

// AbandonFeedback makes a received batch's records receivable again.
func (q *Queues) AbandonFeedback(lockToken string) error {
	q.fbMu.Lock()
	defer q.fbMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errClosed()
	}
	b, err := q.heldBatch(lockToken)
	if err != nil {
		return err
	}
	for _, f := range q.feedback {
		if f.batch == b {
			f.batch = nil
		}
	}
	delete(q.batches, lockToken)
	return nil
}

// heldBatch returns the batch whose lock is still held. Called with q.mu.
func (q *Queues) heldBatch(lockToken string) (*feedbackBatch, error) {
	b := q.batches[lockToken]
	if b == nil || !q.now().Before(b.lockedUntil) {
		return nil, errcode.New(errcode.DeviceMessageLockLost,
			"The feedback lock token is not valid: the batch was already completed or its lock expired.")
	}
	return b, nil
}

// expireFeedback deletes the records older than the feedback TTL.
func (q *Queues) expireFeedback(ctx context.Context) error {
	q.fbMu.Lock()
	defer q.fbMu.Unlock()
	q.mu.Lock()
	now := q.now()
	var old []*feedbackEntry
	for _, f := range q.feedback {
		if !now.Before(f.rec.EnqueuedTime.Add(q.feedbackTTL)) {
			old = append(old, f)
		}
	}
	q.mu.Unlock()
	return q.removeFeedback(ctx, old)
}

// removeFeedback deletes records from the store, then from memory. Called
// with fbMu held, so nothing else removes or hands them out meanwhile.
func (q *Queues) removeFeedback(ctx context.Context, gone []*feedbackEntry) error {
	if len(gone) == 0 {
		return nil
	}
	ops := make([]store.Op, 0, len(gone))
	for _, f := range gone {
		ops = append(ops, store.Op{Bucket: store.Feedback, Key: feedbackKey(f.seq)})
	}
	if err := q.apply(ctx, ops); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	drop := make(map[*feedbackEntry]bool, len(gone))
	for _, f := range gone {
		drop[f] = true
	}
	q.feedback = slices.DeleteFunc(q.feedback, func(f *feedbackEntry) bool { return drop[f] })
	return nil
}
