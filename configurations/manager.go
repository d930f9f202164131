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
	// QueryDocs runs a query; a SELECT * page's items are the twins as
	// query.Doc, read without rendering them.
	QueryDocs(ctx context.Context, text string, opts query.PageOptions) (query.Page, error)
	GetTwin(ctx context.Context, deviceID, moduleID string) (map[string]any, error)
	UpdateTwin(ctx context.Context, deviceID, moduleID string, body []byte, ifMatch string, replace bool) (map[string]any, error)
	// SetConfigurations records a twin's configurations property: status
	// (Targeted, Applied) by configuration id.
	SetConfigurations(ctx context.Context, deviceID, moduleID string, statuses map[string]string) error
	// ConfigurationHolders lists the identities whose twins show one.
	ConfigurationHolders() [][2]string
}

// Statuses a twin's configurations property shows.
const (
	statusTargeted = "Targeted"
	statusApplied  = "Applied"
)

// edgeAgent is the module whose twin shows a deployment's status.
const edgeAgent = "$edgeAgent"

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
// twin, records every twin's configurations property and refreshes every
// configuration's counts. Per twin and per kind of content (device,
// deployment, module), the configuration of highest priority that targets
// it wins (the most recently created among equals).
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
		m.clearStatuses(ctx)
		return nil
	}
	sort.Slice(configs, func(a, b int) bool {
		if configs[a].Priority != configs[b].Priority {
			return configs[a].Priority > configs[b].Priority
		}
		if !configs[a].Created.Equal(configs[b].Created) {
			return configs[a].Created.After(configs[b].Created)
		}
		return configs[a].ID < configs[b].ID
	})
	var byKind [storedKind + 1][]compiled
	for _, c := range configs {
		q, err := TargetQuery(c.TargetCondition)
		if err != nil {
			m.log.Warn("configuration target condition no longer compiles", "configuration", c.ID, "err", err)
		}
		if q != nil {
			byKind[c.Kind()] = append(byKind[c.Kind()], compiled{c, q})
		}
	}
	devices, err := m.twins(ctx, "SELECT * FROM devices")
	if err != nil {
		return err
	}
	// Module twins matter only to deployments and module content, or
	// while one still shows a status to clear: most hubs have neither.
	var modules []query.Doc
	if len(byKind[EdgeKind]) > 0 || len(byKind[ModuleKind]) > 0 || m.moduleShowsStatus() {
		if modules, err = m.twins(ctx, "SELECT * FROM devices.modules"); err != nil {
			return err
		}
	}
	sw := sweep{m: m, counts: make(map[string]Counts, len(configs)), statuses: map[string]map[string]string{}}
	for _, doc := range devices {
		id := docString(doc, "deviceId")
		sw.target(ctx, byKind[DeviceKind], doc, id, func(c *Configuration) bool {
			return m.write(ctx, c, id, "", twinWrite{paths: c.Content.DeviceContent})
		})
		if edge, _ := doc.Lookup(iotEdgePath); edge == true {
			sw.target(ctx, byKind[EdgeKind], doc, identityKey(id, edgeAgent), func(c *Configuration) bool {
				return m.deploy(ctx, c, id)
			})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for _, doc := range modules {
		id, mid := docString(doc, "deviceId"), docString(doc, "moduleId")
		sw.target(ctx, byKind[ModuleKind], doc, identityKey(id, mid), func(c *Configuration) bool {
			return m.write(ctx, c, id, mid, twinWrite{paths: c.Content.ModuleContent})
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	sw.record(ctx, devices, modules)
	for _, c := range configs {
		n := sw.counts[c.ID]
		n.Custom = map[string]int64{}
		for name, text := range c.Queries {
			rows, err := m.twins(ctx, text)
			if err != nil {
				m.log.Warn("custom metric query failed", "configuration", c.ID, "metric", name, "err", err)
				continue
			}
			n.Custom[name] = int64(len(rows))
		}
		sw.counts[c.ID] = n
	}
	m.mu.Lock()
	for id := range m.configs {
		m.counts[id] = sw.counts[id]
	}
	m.mu.Unlock()
	return nil
}

// compiled is a configuration with its target query.
type compiled struct {
	c *Configuration
	q *query.Query
}

// sweep is the state of one Reconcile: counts by configuration, and the
// configurations status of each twin by identity key.
type sweep struct {
	m        *Manager
	counts   map[string]Counts
	statuses map[string]map[string]string
}

// target finds the configurations (of one kind, winners first) whose
// condition doc matches, applies the first with apply, and records their
// statuses under statusKey, the twin that shows them.
func (sw *sweep) target(ctx context.Context, configs []compiled, doc query.Doc, statusKey string, apply func(*Configuration) bool) {
	won := false
	for _, cc := range configs {
		if !cc.q.Match(doc) {
			continue
		}
		n := sw.counts[cc.c.ID]
		n.Targeted++
		status := statusTargeted
		if !won {
			won = true
			if apply(cc.c) {
				n.Applied++
				status = statusApplied
			}
		}
		sw.counts[cc.c.ID] = n
		st := sw.statuses[statusKey]
		if st == nil {
			st = map[string]string{}
			sw.statuses[statusKey] = st
		}
		st[cc.c.ID] = status
	}
}

// record writes the configurations property of every twin whose statuses
// changed.
func (sw *sweep) record(ctx context.Context, docs ...[]query.Doc) {
	for _, list := range docs {
		for _, doc := range list {
			id, mid := docString(doc, "deviceId"), docString(doc, "moduleId")
			want := sw.statuses[identityKey(id, mid)]
			shown, _ := doc.Lookup(configurationsPath)
			if statusesEqual(shown, want) {
				continue
			}
			if err := sw.m.hub.SetConfigurations(ctx, id, mid, want); err != nil {
				sw.m.log.Warn("configuration status not recorded", "device", id, "module", mid, "err", err)
			}
		}
	}
}

// moduleShowsStatus reports whether a module twin shows a configurations
// property.
func (m *Manager) moduleShowsStatus() bool {
	for _, id := range m.hub.ConfigurationHolders() {
		if id[1] != "" {
			return true
		}
	}
	return false
}

// clearStatuses empties the configurations property of every twin that
// still shows one, once no configuration is left.
func (m *Manager) clearStatuses(ctx context.Context) {
	for _, id := range m.hub.ConfigurationHolders() {
		if err := m.hub.SetConfigurations(ctx, id[0], id[1], nil); err != nil {
			m.log.Warn("configuration status not cleared", "device", id[0], "module", id[1], "err", err)
		}
	}
}

// statusesEqual compares a twin's configurations property with statuses.
func statusesEqual(prop any, want map[string]string) bool {
	have, _ := prop.(map[string]any)
	if len(have) != len(want) {
		return false
	}
	for id, status := range want {
		entry, _ := have[id].(map[string]any)
		if entry["status"] != status {
			return false
		}
	}
	return true
}

func identityKey(deviceID, moduleID string) string {
	if moduleID == "" {
		return deviceID
	}
	return deviceID + "/" + moduleID
}

// write makes one twin hold a configuration's content unless it does
// already; it reports whether the twin holds it afterwards. The twin is
// read here, for the targeted twins only: a sweep reads the others without
// rendering them.
func (m *Manager) write(ctx context.Context, c *Configuration, deviceID, moduleID string, w twinWrite) bool {
	doc, err := m.hub.GetTwin(ctx, deviceID, moduleID)
	if err != nil {
		m.log.Debug("configuration target has no twin", "configuration", c.ID, "device", deviceID, "module", moduleID, "err", err)
		return false
	}
	return m.writeTwin(ctx, c, deviceID, moduleID, doc, w)
}

// writeTwin is write for the twin doc, read already.
func (m *Manager) writeTwin(ctx context.Context, c *Configuration, deviceID, moduleID string, doc map[string]any, w twinWrite) bool {
	if w.heldBy(doc) {
		return true
	}
	if err := m.writeNow(ctx, deviceID, moduleID, doc, w); err != nil {
		m.log.Warn("configuration not applied", "configuration", c.ID, "device", deviceID, "module", moduleID, "err", err)
		return false
	}
	m.log.Info("configuration applied", "configuration", c.ID, "device", deviceID, "module", moduleID)
	return true
}

// deploy applies a deployment's modulesContent to an IoT Edge device's
// module twins; it reports whether every module named holds it. A module
// without an identity (one the device's edge agent has not created) cannot
// hold it yet.
func (m *Manager) deploy(ctx context.Context, c *Configuration, deviceID string) bool {
	names, writes := moduleWrites(c.Content.ModulesContent)
	all := true
	for _, name := range names {
		doc, err := m.hub.GetTwin(ctx, deviceID, name)
		if err != nil {
			m.log.Debug("deployment module has no twin", "configuration", c.ID, "device", deviceID, "module", name, "err", err)
			all = false
			continue
		}
		if !m.writeTwin(ctx, c, deviceID, name, doc, writes[name]) {
			all = false
		}
	}
	return all
}

// ApplyContent applies an IoT Edge deployment's content to one device now,
// as POST /devices/{id}/applyConfigurationContent does: modulesContent to
// its module twins, deviceContent to its twin. The device must be an IoT
// Edge device.
func (m *Manager) ApplyContent(ctx context.Context, deviceID string, raw []byte) error {
	content, err := ParseContent(raw)
	if err != nil {
		return err
	}
	doc, err := m.hub.GetTwin(ctx, deviceID, "")
	if err != nil {
		return err
	}
	if edge, _ := doc["capabilities"].(map[string]any); edge["iotEdge"] != true {
		return errcode.New(errcode.ArgumentInvalid, "Device '%s' is not an IoT Edge device; configuration content applies to IoT Edge devices.", deviceID)
	}
	names, writes := moduleWrites(content.ModulesContent)
	// Check first that every module twin exists, so a refused call writes
	// nothing.
	docs := make(map[string]map[string]any, len(names))
	for _, name := range names {
		d, err := m.hub.GetTwin(ctx, deviceID, name)
		if err != nil {
			return err
		}
		docs[name] = d
	}
	for _, name := range names {
		if err := m.writeNow(ctx, deviceID, name, docs[name], writes[name]); err != nil {
			return err
		}
	}
	if len(content.DeviceContent) > 0 {
		if err := m.writeNow(ctx, deviceID, "", doc, twinWrite{paths: content.DeviceContent}); err != nil {
			return err
		}
	}
	m.log.Info("configuration content applied", "device", deviceID, "modules", len(names))
	return nil
}

// writeNow is write for a caller that waits for the answer.
func (m *Manager) writeNow(ctx context.Context, deviceID, moduleID string, doc map[string]any, w twinWrite) error {
	if w.heldBy(doc) {
		return nil
	}
	body, replace, ifMatch, err := w.update(doc)
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "could not encode the content for %s", identityKey(deviceID, moduleID))
	}
	_, err = m.hub.UpdateTwin(ctx, deviceID, moduleID, body, ifMatch, replace)
	return err
}

// twins runs a query through every page.
func (m *Manager) twins(ctx context.Context, text string) ([]query.Doc, error) {
	var out []query.Doc
	opts := query.PageOptions{MaxItemCount: query.MaxPageSize}
	for {
		page, err := m.hub.QueryDocs(ctx, text, opts)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			switch d := it.(type) {
			case query.Doc:
				out = append(out, d)
			case map[string]any: // a projection or a group
				out = append(out, query.MapDoc(d))
			}
		}
		if page.Continuation == "" {
			return out, nil
		}
		opts.Continuation = page.Continuation
	}
}

var (
	iotEdgePath        = []string{"capabilities", "iotEdge"}
	configurationsPath = []string{"configurations"}
)

// docString is the string member name of doc, or "".
func docString(doc query.Doc, name string) string {
	v, _ := doc.Lookup([]string{name})
	s, _ := v.(string)
	return s
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

// ExportConfigurations returns every configuration as IoT Hub answers it,
// oldest first: the lines an export job writes with includeConfigurations.
func (m *Manager) ExportConfigurations() [][]byte {
	var out [][]byte
	for _, e := range m.List(0) {
		b, err := json.Marshal(e.Config.Wire(e.Counts))
		if err != nil {
			m.log.Error("configuration not exported", "configuration", e.Config.ID, "err", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// ImportConfiguration creates a configuration from an exported line, or
// updates the one with its id (whose content cannot change, as on a PUT).
func (m *Manager) ImportConfiguration(ctx context.Context, raw []byte) (string, error) {
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", errcode.New(errcode.ArgumentInvalid, "The line is not a Configuration JSON object.")
	}
	ifMatch := ""
	if _, _, err := m.Get(head.ID); err == nil {
		ifMatch = "*"
	}
	_, _, err := m.Put(ctx, head.ID, raw, ifMatch)
	return head.ID, err
}

// Reset removes every configuration, as the emulator's reset does (which
// empties the twins too).
func (m *Manager) Reset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ops := make([]store.Op, 0, len(m.configs))
	for id := range m.configs {
		ops = append(ops, store.Op{Bucket: store.Configurations, Key: id})
	}
	if err := m.store.Apply(ctx, ops...); err != nil {
		return errcode.Wrap(errcode.ServiceUnavailable, err, "The hub could not remove the configurations; nothing was changed.")
	}
	m.configs, m.counts = map[string]*Configuration{}, map[string]Counts{}
	return nil
}
