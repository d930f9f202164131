package amqp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// SASL mechanism names.
const (
	SASLAnonymous Symbol = "ANONYMOUS"
	SASLPlain     Symbol = "PLAIN"
	SASLExternal  Symbol = "EXTERNAL"
	// SASLMSSBCBS is Microsoft's "authenticate later over $cbs" mechanism
	// (uamqp offers it with an empty initial response).
	SASLMSSBCBS Symbol = "MSSBCBS"
)

// ParsePlain splits a PLAIN initial response (RFC 4616:
// authzid NUL authcid NUL password).
func ParsePlain(resp []byte) (authzid, authcid, password string, err error) {
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("amqp: PLAIN response has %d fields, want 3", len(parts))
	}
	if len(parts[1]) == 0 {
		return "", "", "", errors.New("amqp: PLAIN response has an empty authcid")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// Protocol headers of §2.2 and §5.2.
var (
	headerAMQP = [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0}
	headerTLS  = [8]byte{'A', 'M', 'Q', 'P', 2, 1, 0, 0}
	headerSASL = [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0}
)

// errHeader: the peer's protocol header is not one we serve. We have already
// answered with the header we do support, as §2.2 asks.
var errHeader = errors.New("amqp: unsupported protocol header")

// errAuth: SASL authentication failed; the outcome was sent.
var errAuth = errors.New("amqp: SASL authentication failed")

func (c *conn) readHeader() ([8]byte, error) {
	var h [8]byte
	_, err := io.ReadFull(c.br, h[:])
	return h, err
}

func (c *conn) writeRaw(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// preferredHeader is what we answer an unsupported header with.
func (c *conn) preferredHeader() [8]byte {
	if c.cfg.AllowNoSASL && len(c.cfg.SASLMechanisms) == 0 {
		return headerAMQP
	}
	return headerSASL
}

// handshake runs the protocol header exchange and, when the peer asks for
// it, the SASL layer, leaving the stream at the start of AMQP frames.
func (c *conn) handshake() error {
	h, err := c.readHeader()
	if err != nil {
		return fmt.Errorf("reading protocol header: %w", err)
	}
	switch h {
	case headerAMQP:
		if !c.cfg.AllowNoSASL {
			_ = c.writeRaw(headerSASL[:])
			return fmt.Errorf("%w: bare AMQP header without SASL is not allowed", errHeader)
		}
		return c.writeRaw(headerAMQP[:])
	case headerSASL:
		if err := c.writeRaw(headerSASL[:]); err != nil {
			return err
		}
		if err := c.sasl(); err != nil {
			return err
		}
		h, err := c.readHeader()
		if err != nil {
			return fmt.Errorf("reading AMQP header after SASL: %w", err)
		}
		if h != headerAMQP {
			_ = c.writeRaw(headerAMQP[:])
			return fmt.Errorf("%w after SASL: % x", errHeader, h[:])
		}
		return c.writeRaw(headerAMQP[:])
	default:
		// TLS (id 2) is not offered here: TLS is terminated before us.
		p := c.preferredHeader()
		_ = c.writeRaw(p[:])
		return fmt.Errorf("%w: % x", errHeader, h[:])
	}
}

func (c *conn) writeSASL(p performative) error {
	b, err := appendFrame(nil, frameSASL, 0, p, nil)
	if err != nil {
		return err
	}
	return c.writeRaw(b)
}

// sasl runs mechanisms → init → outcome. Challenges are not used: every
// mechanism we know completes with the initial response.
func (c *conn) sasl() error {
	if err := c.writeSASL(&saslMechanismsFrame{Mechanisms: c.cfg.SASLMechanisms}); err != nil {
		return err
	}
	f, err := readFrame(c.br, c.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("reading sasl-init: %w", err)
	}
	init, ok := f.body.(*saslInitFrame)
	if f.typ != frameSASL || !ok {
		_ = c.writeSASL(&saslOutcomeFrame{Code: saslSysPerm})
		return fmt.Errorf("%w: expected sasl-init, got %T", errAuth, f.body)
	}
	offered := false
	for _, m := range c.cfg.SASLMechanisms {
		offered = offered || m == init.Mechanism
	}
	if !offered {
		_ = c.writeSASL(&saslOutcomeFrame{Code: saslAuth})
		return fmt.Errorf("%w: mechanism %q not offered", errAuth, init.Mechanism)
	}
	var principal any
	if c.cfg.Authenticate != nil {
		principal, err = c.cfg.Authenticate(c.ctx, init.Mechanism, init.InitialResponse, init.Hostname)
		if err != nil {
			_ = c.writeSASL(&saslOutcomeFrame{Code: saslAuth})
			return fmt.Errorf("%w: %w", errAuth, err)
		}
	}
	c.info.mu.Lock()
	c.info.mechanism = init.Mechanism
	c.info.principal = principal
	c.info.saslHostname = init.Hostname
	c.info.mu.Unlock()
	return c.writeSASL(&saslOutcomeFrame{Code: saslOK})
}
