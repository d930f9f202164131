package amqp

import "testing"

// A client that attaches a fresh reply link per request reuses the reply
// address; the link it just detached may still be listed, and must not get
// the reply.
func TestReplyLinkSkipsEndedLinksAndPrefersTheNewest(t *testing.T) {
	conn := &ConnInfo{}
	link := func(addr string, ended bool) *Sender {
		s := &Sender{Link: &Link{Conn: conn, Target: &Target{Address: addr}, done: make(chan struct{})}}
		if ended {
			close(s.done)
		}
		return s
	}
	old, fresh, other := link("cbs-reply", true), link("cbs-reply", false), link("elsewhere", false)
	n := &RequestResponseNode{replies: map[*ConnInfo][]*Sender{conn: {old, other, fresh}}}
	for _, tc := range []struct {
		replyTo string
		want    *Sender
	}{
		{"cbs-reply", fresh},
		{"elsewhere", other},
		{"", other},        // no reply-to: the oldest live link
		{"unknown", other}, // no match: the same
	} {
		if got := n.replyLink(conn, tc.replyTo); got != tc.want {
			t.Errorf("replyLink(%q) = %p, want %p", tc.replyTo, got, tc.want)
		}
	}
	n.replies[conn] = []*Sender{old}
	if got := n.replyLink(conn, "cbs-reply"); got != nil {
		t.Errorf("an ended link was picked: %p", got)
	}
}
