package eventhubs

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/d2c"
)

// Partitions is what the endpoint reads partitions from; *d2c.Log is one.
type Partitions interface {
	Partitions() int
	ConsumerGroup(name string) (string, bool)
	PartitionInfo(p int) (d2c.PartitionInfo, error)
}

// Config describes the endpoint.
type Config struct {
	// Name is the Event Hubs-compatible name (the EntityPath of the
	// endpoint's connection string); DefaultName gives IoT Hub's pattern.
	Name string
	// HubName is accepted as the entity too, as the az CLI and older
	// samples address the hub by its own name.
	HubName string
	// Log holds the partitions and consumer groups.
	Log Partitions
	// CreatedAt is reported as the Event Hub's creation time.
	CreatedAt time.Time
}

// Endpoint is the Event Hubs-compatible endpoint of one hub. It is safe for
// concurrent use.
type Endpoint struct {
	cfg Config
}

// DefaultName is the Event Hubs-compatible name for a hub: IoT Hub names
// it iothub-ehub-{hub}-{digits}-{hex}; the emulator has one hub, so the
// suffix that keeps real names unique is left out.
func DefaultName(hubName string) string { return "iothub-ehub-" + hubName }

// CheckName validates an Event Hub name as Event Hubs does: 1 to 256
// letters, digits, '.', '_' and '-', starting and ending with a letter or
// digit.
func CheckName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("event hub name %q must be 1 to 256 characters", name)
	}
	alnum := func(r byte) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }
	for i := range len(name) {
		if r := name[i]; !alnum(r) && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("event hub name %q may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return fmt.Errorf("event hub name %q must start and end with a letter or digit", name)
	}
	return nil
}

// New checks cfg and returns the endpoint.
func New(cfg Config) (*Endpoint, error) {
	if cfg.Log == nil {
		return nil, errors.New("eventhubs: Config.Log is required")
	}
	if err := CheckName(cfg.Name); err != nil {
		return nil, fmt.Errorf("eventhubs: %w", err)
	}
	cfg.CreatedAt = cfg.CreatedAt.UTC().Truncate(time.Millisecond) // AMQP timestamps are milliseconds
	return &Endpoint{cfg: cfg}, nil
}

// Name is the endpoint's Event Hubs-compatible name.
func (e *Endpoint) Name() string { return e.cfg.Name }

// PartitionIDs are the partition ids as Event Hubs names them: "0", "1" ...
func (e *Endpoint) PartitionIDs() []string {
	ids := make([]string, e.cfg.Log.Partitions())
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

// entity resolves an entity name (the Event Hubs-compatible name or the
// hub's, in any case, as Event Hubs compares names) to the endpoint's name.
func (e *Endpoint) entity(name string) (string, error) {
	if strings.EqualFold(name, e.cfg.Name) || (e.cfg.HubName != "" && strings.EqualFold(name, e.cfg.HubName)) {
		return e.cfg.Name, nil
	}
	return "", fmt.Errorf("%w: the messaging entity %q does not exist (this endpoint is %q)", ErrNotFound, name, e.cfg.Name)
}

// partition parses a partition id: a decimal number in range, written as
// Event Hubs writes it ("0", never "00" or "+0").
func (e *Endpoint) partition(id string) (int, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 || strconv.Itoa(n) != id || n >= e.cfg.Log.Partitions() {
		return 0, fmt.Errorf("%w: partition %q does not exist (partitions are 0 to %d)", ErrNotFound, id, e.cfg.Log.Partitions()-1)
	}
	return n, nil
}

// Address is a parsed link address.
type Address struct {
	Entity string // the endpoint's name, however the client spelled it
	// Management is set for {entity}/$management and $management.
	Management bool
	// ConsumerGroup (as configured) and Partition are set for a receiver.
	ConsumerGroup string
	Partition     int
}

// managementNode is the name of the request/response node.
const managementNode = "$management"

// ParseAddress parses a receiver's source address or a management link's
// address. Clients send paths (pyamqp and azeventhubs send
// {entity}/ConsumerGroups/{cg}/Partitions/{n}, rhea a leading /) or full
// URLs (amqps://host[:port]/...), in any case; segments may be
// percent-encoded. The address is one of
//
//	{entity}/ConsumerGroups/{cg}/Partitions/{n}
//	{entity}/$management
//	$management
//
// Every error wraps ErrNotFound, as Event Hubs answers an address it does
// not serve with amqp:not-found.
func (e *Endpoint) ParseAddress(addr string) (Address, error) {
	path := addr
	if i := strings.Index(path, "://"); i >= 0 {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" {
			return Address{}, fmt.Errorf("%w: address %q is not a URL", ErrNotFound, addr)
		}
		path = u.EscapedPath()
		if u.RawQuery != "" || u.Fragment != "" {
			return Address{}, fmt.Errorf("%w: address %q has a query or fragment", ErrNotFound, addr)
		}
	}
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		dec, err := url.PathUnescape(s)
		if err != nil || dec == "" {
			return Address{}, fmt.Errorf("%w: address %q has an empty or badly escaped segment", ErrNotFound, addr)
		}
		segs[i] = dec
	}
	switch {
	case len(segs) == 1 && strings.EqualFold(segs[0], managementNode):
		return Address{Entity: e.cfg.Name, Management: true}, nil
	case len(segs) == 2 && strings.EqualFold(segs[1], managementNode):
		name, err := e.entity(segs[0])
		if err != nil {
			return Address{}, err
		}
		return Address{Entity: name, Management: true}, nil
	case len(segs) == 5 && strings.EqualFold(segs[1], "ConsumerGroups") && strings.EqualFold(segs[3], "Partitions"):
		name, err := e.entity(segs[0])
		if err != nil {
			return Address{}, err
		}
		cg, ok := e.cfg.Log.ConsumerGroup(segs[2])
		if !ok {
			return Address{}, fmt.Errorf("%w: consumer group %q does not exist on %q", ErrNotFound, segs[2], name)
		}
		p, err := e.partition(segs[4])
		if err != nil {
			return Address{}, err
		}
		return Address{Entity: name, ConsumerGroup: cg, Partition: p}, nil
	}
	return Address{}, fmt.Errorf("%w: address %q is not {entity}/ConsumerGroups/{group}/Partitions/{id} or {entity}/$management", ErrNotFound, addr)
}
