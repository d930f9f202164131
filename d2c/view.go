package d2c

import "unicode/utf8"

// MessageView is a message as the read-back endpoints show it: the body
// also as text when it is valid UTF-8, so people can read it without
// decoding base64.
type MessageView struct {
	Message
	BodyText *string `json:"bodyText,omitempty"`
}

// NewMessageView returns m as the read-back endpoints show it.
func NewMessageView(m Message) MessageView {
	v := MessageView{Message: m}
	if utf8.Valid(m.Body) {
		s := string(m.Body)
		v.BodyText = &s
	}
	return v
}
