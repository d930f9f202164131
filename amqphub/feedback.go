package amqphub

import (
	"encoding/json"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/c2d"
)

// serveFeedback delivers feedback batches on a receiver of
// /messages/serviceBound/feedback, one message per batch (a JSON array of
// records), and settles the batch as the service settles the message:
// accepted or rejected completes it (rejected dead-letters it on IoT Hub,
// which the service never sees again either), released or modified
// abandons it for a later receive.
func (s *Server) serveFeedback(snd *amqp.Sender) {
	ctx := snd.Context()
	for {
		added := s.c2d.FeedbackAdded()
		batch, ok := s.c2d.ReceiveFeedback()
		if !ok {
			select {
			case <-added:
				continue
			case <-ctx.Done():
				return
			}
		}
		body, err := json.Marshal(batch.Records)
		if err != nil {
			s.log.Error("encode feedback batch", "err", err)
			_ = s.c2d.AbandonFeedback(batch.LockToken)
			return
		}
		msg := &amqp.Message{
			Properties: &amqp.Properties{
				MessageID:   batch.LockToken,
				To:          "/messages/servicebound/feedback",
				ContentType: c2d.FeedbackContentType,
			},
			Data: [][]byte{body},
		}
		if snd.PreSettled() {
			if err := snd.Post(ctx, msg); err != nil {
				_ = s.c2d.AbandonFeedback(batch.LockToken)
				return
			}
			s.completeFeedback(batch.LockToken)
			continue
		}
		state, err := snd.Send(ctx, msg)
		if err != nil {
			_ = s.c2d.AbandonFeedback(batch.LockToken)
			return
		}
		switch state.(type) {
		case *amqp.Accepted, *amqp.Rejected, nil:
			s.completeFeedback(batch.LockToken)
		default:
			if err := s.c2d.AbandonFeedback(batch.LockToken); err != nil {
				s.log.Debug("abandon feedback batch", "err", err)
			}
		}
	}
}

func (s *Server) completeFeedback(lockToken string) {
	if err := s.c2d.CompleteFeedback(s.ctx, lockToken); err != nil {
		s.log.Debug("complete feedback batch", "err", err) // its lock ran out: it is delivered again
	}
}
