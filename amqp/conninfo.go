package amqp

import (
	"crypto/tls"
	"net"
	"sync"
)

// ConnInfo describes one connection to the handler. Its methods are safe
// for concurrent use.
type ConnInfo struct {
	remote net.Addr
	tls    *tls.ConnectionState

	mu           sync.Mutex
	mechanism    Symbol
	principal    any
	saslHostname string
	hostname     string
	containerID  string
	properties   map[Symbol]any
	values       map[any]any
	closeFn      func(*Error)
	done         chan struct{}
}

func newConnInfo(remote net.Addr, st *tls.ConnectionState) *ConnInfo {
	return &ConnInfo{remote: remote, tls: st, values: map[any]any{}, done: make(chan struct{})}
}

// RemoteAddr is the peer's network address.
func (c *ConnInfo) RemoteAddr() net.Addr { return c.remote }

// TLS is the TLS state: from the net.Conn if it is a *tls.Conn, or as given
// with WithTLSState (for connections tunnelled through WebSocket). Nil for
// plain TCP.
func (c *ConnInfo) TLS() *tls.ConnectionState { return c.tls }

// SASLMechanism is the mechanism the peer authenticated with; "" when the
// connection has no SASL layer.
func (c *ConnInfo) SASLMechanism() Symbol {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mechanism
}

// Principal is what Config.Authenticate returned.
func (c *ConnInfo) Principal() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal
}

// SASLHostname is the hostname of the peer's sasl-init.
func (c *ConnInfo) SASLHostname() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saslHostname
}

// Hostname is the hostname of the peer's Open (what token audiences are
// usually checked against); set before any link is attached.
func (c *ConnInfo) Hostname() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hostname
}

// ContainerID is the peer's container-id from its Open.
func (c *ConnInfo) ContainerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.containerID
}

// Properties are the peer's Open properties.
func (c *ConnInfo) Properties() map[Symbol]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.properties
}

// Value returns the per-connection value stored under key, or nil.
func (c *ConnInfo) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// SetValue stores a per-connection value (e.g. CBS-authorised audiences);
// a nil val deletes it.
func (c *ConnInfo) SetValue(key, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if val == nil {
		delete(c.values, key)
		return
	}
	c.values[key] = val
}

// Update replaces the value under key with fn(old) atomically with respect
// to other Value/SetValue/Update calls, and returns the new value. fn must
// not call back into c.
func (c *ConnInfo) Update(key any, fn func(old any) any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := fn(c.values[key])
	if v == nil {
		delete(c.values, key)
	} else {
		c.values[key] = v
	}
	return v
}

// Close closes the connection with err (nil for a plain close), e.g. when
// a token expires.
func (c *ConnInfo) Close(err *Error) {
	c.mu.Lock()
	fn := c.closeFn
	c.mu.Unlock()
	if fn != nil {
		fn(err)
	}
}

// Done is closed when the connection has ended.
func (c *ConnInfo) Done() <-chan struct{} { return c.done }
