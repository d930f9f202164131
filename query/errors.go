package query

import (
	"fmt"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// Error is a bad query or a bad continuation token. Position is the 1-based
// character offset in the query text where the problem starts, or 0 when the
// problem is not tied to the text (a bad token, an unsupported collection).
type Error struct {
	Position int
	Message  string
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the wire error so errcode.From renders a query error as
// 400 ArgumentInvalid without the REST layer knowing this package's types.
func (e *Error) Unwrap() error { return errcode.New(errcode.ArgumentInvalid, "%s", e.Message) }

// errAt builds an *Error whose message says where the problem is, so a
// client that only prints the message still sees it. The format's "@pos"
// marks where "at position N" goes; without it, it goes at the end.
func errAt(pos int, format string, args ...any) *Error {
	where := fmt.Sprintf("at position %d", pos)
	if strings.Contains(format, "@pos") {
		format = strings.Replace(format, "@pos", where, 1)
	} else {
		format += " " + where
	}
	return &Error{Position: pos, Message: fmt.Sprintf(format, args...)}
}

// errExpected is the common "unexpected X at position N, expected Y" form.
func errExpected(t token, want string) *Error {
	return &Error{
		Position: t.pos,
		Message:  fmt.Sprintf("unexpected %s at position %d, expected %s", t.describe(), t.pos, want),
	}
}

// errPlain is an error not tied to a position in the query text.
func errPlain(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}
