package configurations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/internal/background"
	"github.com/iothub-emulator/iothub-emulator/query"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Hub is what the manager needs of the hub: the twins a query selects and
// the twin PATCH that writes desired properties.
type Hub interface {
	Query(ctx context.Context, text string, opts query.PageOptions) (query.Page, error)
	UpdateTwin(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string, replace bool) (map[string]any, error)
}

// DefaultInterval is how often the manager sweeps when nothing wakes it.
const DefaultInterval = 5 * time.Second

// Options configure a Manager.
type Options struct {
	Store  store.Store // required
	Hub    Hub         // required
	Logger *slog.Logger
	Now    func() time.Time
	// Interval is the time between sweeps; 0 means DefaultInterval.
	Interval time.Duration
	// Manual starts no sweeper: the caller (a test) calls Reconcile.
	Manual bool
}

// Manager holds the configurations and applies them.
type Manager struct {
	store    store.Store
	hub      Hub
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu      sync.Mutex
	configs map[string]*Configuration // records are replaced, never modified
	counts  map[string]Counts         // of the last sweep
	etagSeq int64

	sweepMu sync.Mutex // one Reconcile at a time
	wake    chan struct{}
	worker  *background.Worker // nil with Options.Manual
}

// Open loads the stored configurations and, unless opts.Manual, starts
// the sweeper.
func Open(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Hub == nil {
		return nil, errors.New("configurations: Options.Store and Options.Hub are required")
	}
	m := &Manager{store: opts.Store, hub: opts.Hub, log: opts.Logger, now: opts.Now, interval: opts.Interval,
		configs: map[string]*Configuration{}, counts: map[string]Counts{}, wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.interval <= 0 {
		m.interval = DefaultInterval
	}
	err := m.store.ForEach(store.Configurations, func(key string, value []byte) error {
		c := new(Configuration)
		if err := json.Unmarshal(value, c); err != nil {
			return fmt.Errorf("configuration %q: %w", key, err)
		}
		m.configs[key] = c
		if n, err := strconv.ParseInt(c.ETag, 10, 64); err == nil && n > m.etagSeq {
			m.etagSeq = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("configurations: load: %w", err)
	}
	m.log.Info("configurations loaded", "configurations", len(m.configs))
	if !opts.Manual {
		m.worker = background.Start(m.loop)
	}
	return m, nil
}

// Close stops the sweeper, waiting for it.
func (m *Manager) Close() error {
	m.worker.Stop()
	return nil
}

func (m *Manager) loop(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		if err := m.Reconcile(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("configuration sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Put creates a configuration (ifMatch "") or updates one (ifMatch its
// etag or "*"). An update may change labels, metrics, priority and target
// condition, never the content.
func (m *Manager) Put(ctx context.Context, id string, raw []byte, ifMatch string) (*Configuration, Counts, error) {
	c, err := Parse(id, raw)
	if err != nil {
		return nil, Counts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, exists := m.configs[id]
	now := m.now().UTC()
	switch {
	case strings.TrimSpace(ifMatch) == "":
		if exists {
			return nil, Counts{}, errcode.New(errcode.PreconditionFailed, "Configuration '%s' already exists; send its etag in If-Match to update it.", id)
		}
		if len(m.configs) >= MaxConfigurations {
			return nil, Counts{}, errcode.New(errcode.IotHubQuotaExceeded, "The hub holds its maximum of %d configurations.", MaxConfigurations)
		}
		c.Created = now
	case !exists:
		return nil, Counts{}, notFound(id)
	default:
		if !etagMatches(ifMatch, cur.ETag) {
			return nil, Counts{}, errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match configuration '%s''s current etag %s.", ifMatch, id, cur.ETag)
		}
		if !reflect.DeepEqual(normalize(c.Content), normalize(cur.Content)) {
			return nil, Counts{}, errcode.New(errcode.ArgumentInvalid, "The content of configuration '%s' cannot be changed; create a new configuration instead.", id)
		}
		c.Created = cur.Created
		c.ContentType = cur.ContentType
	}
	c.LastUpdated = now
	c.ETag = strconv.FormatInt(m.etagSeq+1, 10)
	b, err := json.Marshal(c)
	if err != nil {
		return nil, Counts{}, errcode.Wrap(errcode.ServerError, err, "could not encode configuration %s", id)
	}
	if err := m.store.Apply(ctx, store.Op{Bucket: store.Configurations, Key: id, Value: b}); err != nil {
		m.log.Error("store write failed", "configuration", id, "err", err)
		return nil, Counts{}, errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not persist the configuration; nothing was written.")
	}
	m.etagSeq++
	m.configs[id] = c
	m.log.Info("configuration stored", "configuration", id, "update", exists, "priority", c.Priority)
	m.poke()
	return c, m.counts[id], nil
}

// Get returns a configuration and the counts of the last sweep.
func (m *Manager) Get(id string) (*Configuration, Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.configs[id]
	if !ok {
		return nil, Counts{}, notFound(id)
	}
	return c, m.counts[id], nil
}

// Delete removes a configuration, conditional on ifMatch ("" or "*": any).
// What it wrote into twins stays, as on IoT Hub.
func (m *Manager) Delete(ctx context.Context, id, ifMatch string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.configs[id]
	if !ok {
		return notFound(id)
	}
	if !etagMatches(ifMatch, c.ETag) {
		return errcode.New(errcode.PreconditionFailed, "Precondition failed: the etag %s does not match configuration '%s''s current etag %s.", ifMatch, id, c.ETag)
	}
	if err := m.store.Apply(ctx, store.Op{Bucket: store.Configurations, Key: id}); err != nil {
		m.log.Error("store write failed", "configuration", id, "err", err)
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not delete the configuration; nothing was changed.")
	}
	delete(m.configs, id)
	delete(m.counts, id)
	m.log.Info("configuration deleted", "configuration", id)
	m.poke()
	return nil
}

// Entry is a configuration with its counts.
type Entry struct {
	Config *Configuration
	Counts Counts
}

// List returns up to top configurations (top <= 0: all), oldest first.
func (m *Manager) List(top int) []Entry {
	m.mu.Lock()
	out := make([]Entry, 0, len(m.configs))
	for id, c := range m.configs {
		out = append(out, Entry{c, m.counts[id]})
	}
	m.mu.Unlock()
	sort.Slice(out, func(a, b int) bool {
		ca, cb := out[a].Config, out[b].Config
		if !ca.Created.Equal(cb.Created) {
			return ca.Created.Before(cb.Created)
		}
		return ca.ID < cb.ID
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

// TestQueries checks a target condition and custom metric queries as the
// testQueries API does: the errors by name, "" where there is none.
func TestQueries(targetCondition string, metricQueries map[string]string) (string, map[string]string) {
	targetErr := ""
	if _, err := TargetQuery(targetCondition); err != nil {
		targetErr = errcode.From(err).Message
	}
	errs := map[string]string{}
	for name, text := range metricQueries {
		if err := checkMetricQuery(name, text); err != nil {
			errs[name] = errcode.From(err).Message
		}
	}
	return targetErr, errs
}

func notFound(id string) error {
	return errcode.New(errcode.IotHubNotFound, "Configuration '%s' was not found.", id)
}

// Reconcile runs one sweep: it applies the winning configuration of every
// device twin and refreshes every configuration's counts.
func (m *Manager) Reconcile(ctx context.Context) error {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	m.mu.Lock()
	configs := make([]*Configuration, 0, len(m.configs))
	for _, c := range m.configs {
		configs = append(configs, c)
	}
	m.mu.Unlock()
	if len(configs) == 0 {
		return nil
	}
	// Winners first: highest priority, then most recently created.
	sort.Slice(configs, func(a, b int) bool {
		if configs[a].Priority != configs[b].Priority {
			return configs[a].Priority > configs[b].Priority
		}
		if !configs[a].Created.Equal(configs[b].Created) {
			return configs[a].Created.After(configs[b].Created)
		}
		return configs[a].ID < configs[b].ID
	})
	twins, err := m.twins(ctx, "SELECT * FROM devices")
	if err != nil {
		return err
	}
	queries := make([]*query.Query, len(configs))
	for i, c := range configs {
		if queries[i], err = TargetQuery(c.TargetCondition); err != nil {
			m.log.Warn("configuration target condition no longer compiles", "configuration", c.ID, "err", err)
		}
	}
	counts := make(map[string]Counts, len(configs))
	for _, doc := range twins {
		id, _ := doc["deviceId"].(string)
		won := false
		for i, c := range configs {
			if queries[i] == nil || !queries[i].Match(doc) {
				continue
			}
			n := counts[c.ID]
			n.Targeted++
			if !won && len(c.Content.DeviceContent) > 0 {
				won = true
				if m.apply(ctx, c, id, doc) {
					n.Applied++
				}
			}
			counts[c.ID] = n
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for _, c := range configs {
		n := counts[c.ID]
		n.Custom = map[string]int64{}
		for name, text := range c.Queries {
			rows, err := m.twins(ctx, text)
			if err != nil {
				m.log.Warn("custom metric query failed", "configuration", c.ID, "metric", name, "err", err)
				continue
			}
			n.Custom[name] = int64(len(rows))
		}
		counts[c.ID] = n
	}
	m.mu.Lock()
	for id := range m.configs {
		m.counts[id] = counts[id]
	}
	m.mu.Unlock()
	return nil
}

// apply patches the configuration's content into one twin unless it holds
// it already; it reports whether the twin holds it afterwards.
func (m *Manager) apply(ctx context.Context, c *Configuration, deviceID string, doc map[string]any) bool {
	if c.appliedTo(doc) {
		return true
	}
	patch, err := c.patch()
	if err != nil {
		m.log.Error("configuration content", "configuration", c.ID, "err", err)
		return false
	}
	if _, err := m.hub.UpdateTwin(ctx, deviceID, "", patch, "", false); err != nil {
		m.log.Warn("configuration not applied", "configuration", c.ID, "device", deviceID, "err", err)
		return false
	}
	m.log.Info("configuration applied", "configuration", c.ID, "device", deviceID)
	return true
}

// twins runs a query through every page.
func (m *Manager) twins(ctx context.Context, text string) ([]map[string]any, error) {
	var out []map[string]any
	opts := query.PageOptions{MaxItemCount: query.MaxPageSize}
	for {
		page, err := m.hub.Query(ctx, text, opts)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			doc, _ := it.(map[string]any)
			out = append(out, doc)
		}
		if page.Continuation == "" {
			return out, nil
		}
		opts.Continuation = page.Continuation
	}
}

// etagMatches implements If-Match: "" and the wildcard match anything,
// otherwise the (optionally quoted, optionally weak) tag must be current.
func etagMatches(ifMatch, current string) bool {
	v := strings.TrimSpace(ifMatch)
	if v == "" || v == "*" || v == `"*"` {
		return true
	}
	v = strings.TrimPrefix(v, "W/")
	if len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) {
		v = v[1 : len(v)-1]
	}
	return v != "" && v == current
}
