// Package metrics keeps the emulator's counters, gauges and histograms and
// writes them in the Prometheus text exposition format.
//
// It is deliberately small: a handful of fixed metrics, registered once at
// start, updated with atomics on hot paths.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds every metric of one emulator.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
	names   map[string]bool
}

type metric interface {
	name() string
	write(w io.Writer) error
}

// New returns an empty registry.
func New() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) add(m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[m.name()] {
		panic("metrics: " + m.name() + " registered twice") // a programming error at start, never input-driven
	}
	r.names[m.name()] = true
	r.metrics = append(r.metrics, m)
}

// WriteText writes every metric in the Prometheus text format, sorted by name.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	ms := append([]metric{}, r.metrics...)
	r.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].name() < ms[j].name() })
	for _, m := range ms {
		if err := m.write(w); err != nil {
			return err
		}
	}
	return nil
}

func header(w io.Writer, name, help, kind string) error {
	_, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	return err
}

// CounterVec is a family of counters told apart by one label.
type CounterVec struct {
	n, help, label string
	mu             sync.RWMutex
	values         map[string]*atomic.Int64
}

// CounterVec registers a counter family with one label.
func (r *Registry) CounterVec(name, help, label string) *CounterVec {
	c := &CounterVec{n: name, help: help, label: label, values: map[string]*atomic.Int64{}}
	r.add(c)
	return c
}

// Counter registers a counter with no labels.
func (r *Registry) Counter(name, help string) *CounterVec { return r.CounterVec(name, help, "") }

// Inc adds one to the counter with the given label value ("" for none).
func (c *CounterVec) Inc(value string) { c.Add(value, 1) }

// Add adds n to the counter with the given label value.
func (c *CounterVec) Add(value string, n int64) {
	if c == nil {
		return
	}
	c.mu.RLock()
	v := c.values[value]
	c.mu.RUnlock()
	if v == nil {
		c.mu.Lock()
		if v = c.values[value]; v == nil {
			v = new(atomic.Int64)
			c.values[value] = v
		}
		c.mu.Unlock()
	}
	v.Add(n)
}

// Value reads one counter.
func (c *CounterVec) Value(value string) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v := c.values[value]; v != nil {
		return v.Load()
	}
	return 0
}

func (c *CounterVec) name() string { return c.n }

func (c *CounterVec) write(w io.Writer) error {
	if err := header(w, c.n, c.help, "counter"); err != nil {
		return err
	}
	c.mu.RLock()
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	c.mu.RUnlock()
	sort.Strings(keys)
	if len(keys) == 0 && c.label == "" {
		keys = []string{""}
	}
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s%s %d\n", c.n, labels(c.label, k), c.Value(k)); err != nil {
			return err
		}
	}
	return nil
}

// GaugeFunc is a gauge read when metrics are written.
type GaugeFunc struct {
	n, help string
	fn      func() float64
}

// GaugeFunc registers a gauge computed by fn at scrape time.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.add(&GaugeFunc{n: name, help: help, fn: fn})
}

func (g *GaugeFunc) name() string { return g.n }

func (g *GaugeFunc) write(w io.Writer) error {
	if err := header(w, g.n, g.help, "gauge"); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s\n", g.n, formatFloat(g.fn()))
	return err
}

// Histogram counts observations into fixed buckets.
type Histogram struct {
	n, help string
	bounds  []float64
	mu      sync.Mutex
	counts  []uint64 // per bucket, not cumulative
	sum     float64
	count   uint64
}

// Histogram registers a histogram with the given upper bounds (ascending).
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	h := &Histogram{n: name, help: help, bounds: bounds, counts: make([]uint64, len(bounds)+1)}
	r.add(h)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	if h == nil {
		return
	}
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.count++
	h.mu.Unlock()
}

func (h *Histogram) name() string { return h.n }

func (h *Histogram) write(w io.Writer) error {
	if err := header(w, h.n, h.help, "histogram"); err != nil {
		return err
	}
	h.mu.Lock()
	counts := append([]uint64{}, h.counts...)
	sum, count := h.sum, h.count
	h.mu.Unlock()
	var cum uint64
	for i, b := range h.bounds {
		cum += counts[i]
		if _, err := fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", h.n, formatFloat(b), cum); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h.n, count, h.n, formatFloat(sum), h.n, count); err != nil {
		return err
	}
	return nil
}

func labels(label, value string) string {
	if label == "" {
		return ""
	}
	return "{" + label + "=" + strconv.Quote(value) + "}"
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strings.TrimSuffix(strconv.FormatFloat(f, 'g', -1, 64), ".0")
}
