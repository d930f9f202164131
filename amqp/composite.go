package amqp

// DeliveryState is the state of a delivery (§2.7.6 and §3.4): one of
// *Accepted, *Rejected, *Released, *Modified (the terminal outcomes) or
// *Received.
type DeliveryState interface {
	marshaler
	deliveryState()
}

// Accepted is the outcome of a message processed successfully.
type Accepted struct{}

// Rejected is the outcome of a message that is invalid and will not be
// processed; Error says why.
type Rejected struct{ Error *Error }

// Released is the outcome of a message not processed, to be offered again.
type Released struct{}

// Modified is released with changes: the peer should count a failed
// delivery, not offer it here again, or merge annotations.
type Modified struct {
	DeliveryFailed     bool
	UndeliverableHere  bool
	MessageAnnotations map[Symbol]any
}

// Received is a non-terminal state recording how much of a message arrived.
type Received struct {
	SectionNumber uint32
	SectionOffset uint64
}

func (*Accepted) deliveryState() {}
func (*Rejected) deliveryState() {}
func (*Released) deliveryState() {}
func (*Modified) deliveryState() {}
func (*Received) deliveryState() {}

func (*Accepted) appendAMQP(b []byte) ([]byte, error) { return appendComposite(b, descAccepted) }
func (*Released) appendAMQP(b []byte) ([]byte, error) { return appendComposite(b, descReleased) }
func (s *Rejected) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descRejected, optError(s.Error))
}
func (s *Modified) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descModified, s.DeliveryFailed, s.UndeliverableHere, optFields(s.MessageAnnotations))
}
func (s *Received) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descReceived, s.SectionNumber, s.SectionOffset)
}

func decodeDeliveryState(v any) (DeliveryState, error) {
	code, f, err := composite(v)
	if err != nil {
		return nil, err
	}
	switch code {
	case descAccepted:
		return &Accepted{}, nil
	case descReleased:
		return &Released{}, nil
	case descRejected:
		r := fieldReader{what: "rejected", f: f}
		s := &Rejected{Error: r.error(0)}
		return s, r.err
	case descModified:
		r := fieldReader{what: "modified", f: f}
		s := &Modified{DeliveryFailed: r.bool(0, false), UndeliverableHere: r.bool(1, false), MessageAnnotations: r.fields(2)}
		return s, r.err
	case descReceived:
		r := fieldReader{what: "received", f: f}
		r.mandatory(0)
		r.mandatory(1)
		s := &Received{SectionNumber: r.uint32(0, 0), SectionOffset: r.uint64(1, 0)}
		return s, r.err
	}
	return nil, decodeErrorf("descriptor 0x%x is not a delivery state", code)
}

func (e *Error) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descError, e.Condition, optString(e.Description), optFields(e.Info))
}

func decodeError(v any) (*Error, error) {
	code, f, err := composite(v)
	if err != nil {
		return nil, err
	}
	if code != descError {
		return nil, decodeErrorf("descriptor 0x%x is not an error", code)
	}
	r := fieldReader{what: "error", f: f}
	r.mandatory(0)
	e := &Error{Condition: r.symbol(0), Description: r.string(1), Info: r.fields(2)}
	return e, r.err
}

// Source is the source terminus of a link (§3.5.3).
type Source struct {
	Address               string
	Durable               uint32 // terminus-durability: 0 none, 1 configuration, 2 unsettled-state
	ExpiryPolicy          Symbol // "" means the default, session-end
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	DistributionMode      Symbol
	// Filter is the filter-set: symbol keys, values usually Described
	// (e.g. descriptor Symbol("apache.org:selector-filter:string") or
	// uint64(0x0000468C00000004), value a string).
	Filter         map[Symbol]any
	DefaultOutcome DeliveryState
	Outcomes       []Symbol
	Capabilities   []Symbol
}

// Target is the target terminus of a link (§3.5.4).
type Target struct {
	Address               string
	Durable               uint32
	ExpiryPolicy          Symbol
	Timeout               uint32
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	Capabilities          []Symbol
}

func (s *Source) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descSource,
		optString(s.Address), s.Durable, optSymbol(s.ExpiryPolicy), s.Timeout, s.Dynamic,
		optFields(s.DynamicNodeProperties), optSymbol(s.DistributionMode), optFields(s.Filter),
		optState(s.DefaultOutcome), optSymbols(s.Outcomes), optSymbols(s.Capabilities))
}

func (t *Target) appendAMQP(b []byte) ([]byte, error) {
	return appendComposite(b, descTarget,
		optString(t.Address), t.Durable, optSymbol(t.ExpiryPolicy), t.Timeout, t.Dynamic,
		optFields(t.DynamicNodeProperties), optSymbols(t.Capabilities))
}

func decodeSource(v any) (*Source, error) {
	if v == nil {
		return nil, nil
	}
	code, f, err := composite(v)
	if err != nil {
		return nil, err
	}
	if code != descSource {
		return nil, decodeErrorf("descriptor 0x%x is not a source", code)
	}
	r := fieldReader{what: "source", f: f}
	s := &Source{
		Address: r.string(0), Durable: r.uint32(1, 0), ExpiryPolicy: r.symbol(2), Timeout: r.uint32(3, 0),
		Dynamic: r.bool(4, false), DynamicNodeProperties: r.fields(5), DistributionMode: r.symbol(6),
		Filter: r.fields(7), DefaultOutcome: r.state(8), Outcomes: r.symbols(9), Capabilities: r.symbols(10),
	}
	return s, r.err
}

func decodeTarget(v any) (*Target, error) {
	if v == nil {
		return nil, nil
	}
	code, f, err := composite(v)
	if err != nil {
		return nil, err
	}
	if code != descTarget {
		return nil, decodeErrorf("descriptor 0x%x is not a target", code)
	}
	r := fieldReader{what: "target", f: f}
	t := &Target{
		Address: r.string(0), Durable: r.uint32(1, 0), ExpiryPolicy: r.symbol(2), Timeout: r.uint32(3, 0),
		Dynamic: r.bool(4, false), DynamicNodeProperties: r.fields(5), Capabilities: r.symbols(6),
	}
	return t, r.err
}
