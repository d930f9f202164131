package amqphub

import (
	"context"
	"encoding/json"

	"github.com/iothub-emulator/iothub-emulator/amqp"
	"github.com/iothub-emulator/iothub-emulator/c2d"
	"github.com/iothub-emulator/iothub-emulator/fileupload"
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

// FileNotifications is the file upload notifications' queue
// (fileupload.Manager).
type FileNotifications interface {
	Added() <-chan struct{}
	Receive() (n fileupload.Notification, lockToken string, ok bool)
	CompleteNotification(ctx context.Context, lockToken string) error
	AbandonNotification(lockToken string) error
}

// serveFileNotifications delivers file upload notifications on a receiver
// of /messages/serviceBound/filenotifications, one message per
// notification (its JSON), settled as feedback is: accepted or rejected
// completes it, released or modified abandons it for a later receive.
func (s *Server) serveFileNotifications(snd *amqp.Sender) {
	ctx := snd.Context()
	for {
		added := s.files.Added()
		n, token, ok := s.files.Receive()
		if !ok {
			select {
			case <-added:
				continue
			case <-ctx.Done():
				return
			}
		}
		body, err := json.Marshal(n)
		if err != nil {
			s.log.Error("encode file notification", "err", err)
			_ = s.files.AbandonNotification(token)
			return
		}
		msg := &amqp.Message{
			Properties: &amqp.Properties{
				MessageID:   token,
				To:          "/messages/serviceBound/filenotifications",
				ContentType: fileupload.NotificationContentType,
			},
			Data: [][]byte{body},
		}
		if snd.PreSettled() {
			if err := snd.Post(ctx, msg); err != nil {
				_ = s.files.AbandonNotification(token)
				return
			}
			s.completeFileNotification(token)
			continue
		}
		state, err := snd.Send(ctx, msg)
		if err != nil {
			_ = s.files.AbandonNotification(token)
			return
		}
		switch state.(type) {
		case *amqp.Accepted, *amqp.Rejected, nil:
			s.completeFileNotification(token)
		default:
			if err := s.files.AbandonNotification(token); err != nil {
				s.log.Debug("abandon file notification", "err", err)
			}
		}
	}
}

func (s *Server) completeFileNotification(lockToken string) {
	if err := s.files.CompleteNotification(s.ctx, lockToken); err != nil {
		s.log.Debug("complete file notification", "err", err) // its lock ran out: it is delivered again
	}
}
