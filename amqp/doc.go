// Package amqp is a server-side AMQP 1.0 protocol library (OASIS AMQP 1.0):
// codec, frames, SASL, connections, sessions and links. It knows nothing of
// IoT Hub; callers route links by address in their Handler.
//
// # API
//
// Values and messages:
//
//	Marshal(v any) ([]byte, error); AppendValue(b []byte, v any) ([]byte, error)
//	Unmarshal(data []byte) (any, error); DecodeValue(data []byte) (any, int, error)
//	Symbol, UUID, Char, Decimal32/64/128, Described, Map/KeyValue, Array/TypeCode
//	Message{Header, DeliveryAnnotations, Annotations, Properties,
//	        ApplicationProperties, Data, Sequence, Value, Footer, Format}
//	(*Message).Marshal() ([]byte, error); UnmarshalMessage([]byte) (*Message, error)
//	Source, Target, Error, DeliveryState (*Accepted, *Rejected, *Released,
//	*Modified, *Received), Cond* error conditions
//
// Serving:
//
//	NewServer(Config) *Server
//	(*Server).ServeConn(ctx, net.Conn, ...ConnOption) error
//	(*Server).Serve(ctx, net.Listener) error
//	WithTLSState(*tls.ConnectionState), WithConnValue(key, val)
//	Handler{AttachIncoming(ctx, *Link) (Receiver, *Error);
//	        AttachOutgoing(ctx, *Sender) *Error}
//	Receiver{Receive(ctx, *Message) DeliveryState}; ReceiverFunc
//	Link: peer's attach fields, Reply AttachReply, Context, Done, Err, Detach(*Error)
//	Sender: *Link + Send(ctx, *Message) (DeliveryState, error), Post, PostSettled,
//	        Start(ctx, *Message) (*Outcome, error) + (*Outcome).Wait(ctx),
//	        Credit, Flowed() <-chan struct{}, PreSettled
//	ConnInfo: RemoteAddr, TLS, SASLMechanism, Principal, SASLHostname,
//	          Hostname, ContainerID, Properties, Value/SetValue/Update, Close, Done
//	ParsePlain(resp) (authzid, authcid, password, error); SASL* mechanism names
//	NewRequestResponseNode(RequestHandler, *slog.Logger) *RequestResponseNode
//	(a Handler for $cbs / $management style nodes)
//
// # Behaviour
//
// The connection accepts a SASL header (then sasl-mechanisms, sasl-init,
// sasl-outcome and the AMQP header) or, when Config.AllowNoSASL, a bare AMQP
// header. A TLS header (id 2) or anything else is answered with the SASL
// header and closed. Open always carries max-frame-size, channel-max and
// idle-time-out; Begin always carries handle-max; every field of Open,
// Begin, Attach and Transfer is encoded, because some clients read them by
// position.
//
// Each incoming link gets Config.CreditWindow credit, topped up as its
// Receiver returns; messages are reassembled from multi-frame transfers and
// handed to the Receiver one at a time on the link's goroutine; unsettled
// deliveries are settled with the Receiver's outcome after it returns.
// Outgoing links send within link credit and the peer's session window,
// split messages to the peer's max-frame-size, honour drain and echo, and
// send pre-settled when the peer asks snd-settle-mode settled.
//
// Protocol violations are answered as the spec says: framing errors and
// oversized frames close with amqp:connection:framing-error, undecodable
// performatives with amqp:decode-error, an unknown handle ends the session
// with amqp:session:unattached-handle, transfers beyond credit detach the
// link with amqp:link:transfer-limit-exceeded, messages above
// MaxMessageSize with amqp:link:message-size-exceeded, a silent peer is
// closed with amqp:resource-limit-exceeded.
//
// # Not implemented
//
//   - Transactions (coordinator links are refused like any other link the
//     handler refuses) and link recovery/resume: the unsettled map of an
//     attach is ignored, detach with closed=false is treated like closed.
//   - As receiver we always settle first: a peer asking rcv-settle-mode
//     second is answered with first in our attach. As sender, second is
//     honoured (we settle after the peer's outcome).
//   - SASL challenge/response rounds: every mechanism completes with its
//     initial response. The TLS header: TLS must be terminated before us.
//   - We never begin sessions or attach links ourselves, and never send
//     resumed or batchable transfers. Decimal values are opaque bytes.
//   - An amqp-value section holding null reads as no body.
package amqp
