package amqp

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Config configures a Server. The zero value of every field but Handler is
// usable; see each field for its default.
type Config struct {
	// ContainerID is sent in our Open. Default "iothub-emulator".
	ContainerID string
	// MaxFrameSize we accept and advertise. Default 65536; at least 512.
	MaxFrameSize uint32
	// ChannelMax is the highest session channel we accept. Default 255.
	ChannelMax uint16
	// HandleMax is the highest link handle per session we accept; always
	// advertised in Begin. Default 255.
	HandleMax uint32
	// IdleTimeout is advertised in Open: a peer silent for longer is closed
	// with amqp:resource-limit-exceeded. Default 60s; negative disables.
	IdleTimeout time.Duration
	// WriteTimeout bounds every socket write so a peer that stops reading
	// cannot hold the connection forever. Default 30s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the protocol headers, SASL and Open exchange.
	// Default 30s.
	HandshakeTimeout time.Duration

	// SASLMechanisms offered, in preference order. Default ANONYMOUS.
	SASLMechanisms []Symbol
	// Authenticate checks a sasl-init. hostname is sasl-init's hostname
	// (Open's comes later, see ConnInfo.Hostname). A non-nil error sends
	// sasl-outcome auth and closes the connection. The principal is kept
	// in ConnInfo. Nil accepts every offered mechanism with a nil principal.
	Authenticate func(ctx context.Context, mechanism Symbol, initialResponse []byte, hostname string) (principal any, err error)
	// AllowNoSASL accepts a bare AMQP protocol header without a SASL layer
	// (as the Node azure-iothub service client sends). When false such a
	// peer is answered with the SASL header and closed.
	AllowNoSASL bool

	// CreditWindow is the link credit granted to each peer sender, renewed
	// as the handler consumes messages; it also bounds the messages
	// buffered per incoming link. Default 100.
	CreditWindow uint32
	// SessionWindow is the incoming-window advertised per session, renewed
	// as transfers arrive. Default 5000.
	SessionWindow uint32
	// MaxMessageSize bounds an incoming message (advertised on attach;
	// bigger ones detach the link with amqp:link:message-size-exceeded).
	// Default 1 MiB.
	MaxMessageSize uint64

	// Logger receives connection diagnostics. Nil discards them.
	Logger *slog.Logger
	// Handler decides on every link the peer attaches. Required.
	Handler Handler
}

func (c Config) withDefaults() Config {
	if c.ContainerID == "" {
		c.ContainerID = "iothub-emulator"
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = 65536
	}
	if c.MaxFrameSize < minMaxFrameSize {
		c.MaxFrameSize = minMaxFrameSize
	}
	if c.ChannelMax == 0 {
		c.ChannelMax = 255
	}
	if c.HandleMax == 0 {
		c.HandleMax = 255
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 30 * time.Second
	}
	if len(c.SASLMechanisms) == 0 {
		c.SASLMechanisms = []Symbol{SASLAnonymous}
	}
	if c.CreditWindow == 0 {
		c.CreditWindow = 100
	}
	if c.SessionWindow == 0 {
		c.SessionWindow = 5000
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// minMaxFrameSize is MIN-MAX-FRAME-SIZE of §2.7.1.
const minMaxFrameSize = 512
