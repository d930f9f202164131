package amqp

import (
	"errors"
	"fmt"
)

// Error is the AMQP error type (§2.8.14), carried by close, end, detach and
// the rejected outcome. Handlers return it to refuse an attach or reject a
// message; the library returns it when the peer reports one.
type Error struct {
	Condition   Symbol
	Description string
	Info        map[Symbol]any
}

func (e *Error) Error() string {
	if e == nil {
		return "amqp: <nil error>"
	}
	if e.Description == "" {
		return "amqp: " + string(e.Condition)
	}
	return fmt.Sprintf("amqp: %s: %s", e.Condition, e.Description)
}

// NewError is shorthand for an Error without info.
func NewError(cond Symbol, format string, args ...any) *Error {
	return &Error{Condition: cond, Description: fmt.Sprintf(format, args...)}
}

// Error conditions of AMQP 1.0 §2.8.15–2.8.18.
const (
	CondInternalError         Symbol = "amqp:internal-error"
	CondNotFound              Symbol = "amqp:not-found"
	CondUnauthorizedAccess    Symbol = "amqp:unauthorized-access"
	CondDecodeError           Symbol = "amqp:decode-error"
	CondResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	CondNotAllowed            Symbol = "amqp:not-allowed"
	CondInvalidField          Symbol = "amqp:invalid-field"
	CondNotImplemented        Symbol = "amqp:not-implemented"
	CondResourceLocked        Symbol = "amqp:resource-locked"
	CondPreconditionFailed    Symbol = "amqp:precondition-failed"
	CondResourceDeleted       Symbol = "amqp:resource-deleted"
	CondIllegalState          Symbol = "amqp:illegal-state"
	CondFrameSizeTooSmall     Symbol = "amqp:frame-size-too-small"

	CondConnectionForced    Symbol = "amqp:connection:forced"
	CondFramingError        Symbol = "amqp:connection:framing-error"
	CondConnectionRedirect  Symbol = "amqp:connection:redirect"
	CondWindowViolation     Symbol = "amqp:session:window-violation"
	CondErrantLink          Symbol = "amqp:session:errant-link"
	CondHandleInUse         Symbol = "amqp:session:handle-in-use"
	CondUnattachedHandle    Symbol = "amqp:session:unattached-handle"
	CondDetachForced        Symbol = "amqp:link:detach-forced"
	CondTransferLimitExceed Symbol = "amqp:link:transfer-limit-exceeded"
	CondMessageSizeExceeded Symbol = "amqp:link:message-size-exceeded"
	CondLinkRedirect        Symbol = "amqp:link:redirect"
	CondStolen              Symbol = "amqp:link:stolen"
)

// Errors returned by Sender.Send and reported by Link.Err.
var (
	// ErrLinkClosed: the link was detached (by either side) or its session
	// or connection ended. Link.Err tells the cause.
	ErrLinkClosed = errors.New("amqp: link closed")
	// ErrConnClosed: the connection is gone.
	ErrConnClosed = errors.New("amqp: connection closed")
)

// errDecode marks codec failures; performative decode failures close the
// connection with amqp:decode-error.
var errDecode = errors.New("amqp: decode error")

func decodeErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errDecode, fmt.Sprintf(format, args...))
}
