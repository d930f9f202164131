// Package configurations is IoT Hub's automatic device management: stored
// configurations, each a target condition over device twins, a priority
// and content (desired properties) the hub writes into the twins it
// targets.
//
// A sweep (Reconcile) finds, for every device twin, the targeting
// configuration of highest priority (the most recently created among
// equals) and patches that configuration's deviceContent into the twin's
// desired properties where the twin does not already hold it. The sweep
// also counts the system metrics (targeted and applied twins) and runs the
// custom metric queries. The Manager sweeps when a configuration changes
// and at a fixed interval, which is how twin and tag changes are noticed.
package configurations

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/query"
)

// MaxConfigurations is how many configurations a standard-tier hub holds.
const MaxConfigurations = 100

// maxIDLength bounds a configuration id as IoT Hub does.
const maxIDLength = 128

// desiredPrefix starts every deviceContent key.
const desiredPrefix = "properties.desired."

// idPunctuation is what an id may hold besides lowercase letters and digits.
const idPunctuation = "-:+%_#*?!(),=@;$'"

// Content is what a configuration applies.
type Content struct {
	DeviceContent  map[string]any `json:"deviceContent,omitempty"`
	ModulesContent map[string]any `json:"modulesContent,omitempty"`
	ModuleContent  map[string]any `json:"moduleContent,omitempty"`
}

func (c Content) empty() bool {
	return len(c.DeviceContent) == 0 && len(c.ModulesContent) == 0 && len(c.ModuleContent) == 0
}

// Metrics are a configuration's custom metrics: queries by name and, on
// the wire, their last results.
type Metrics struct {
	Results map[string]int64  `json:"results"`
	Queries map[string]string `json:"queries"`
}

// Configuration is a configuration's stored record.
type Configuration struct {
	ID              string            `json:"id"`
	SchemaVersion   string            `json:"schemaVersion"`
	Labels          map[string]string `json:"labels,omitempty"`
	Content         Content           `json:"content"`
	ContentType     string            `json:"contentType,omitempty"`
	TargetCondition string            `json:"targetCondition"`
	Created         time.Time         `json:"createdTimeUtc"`
	LastUpdated     time.Time         `json:"lastUpdatedTimeUtc"`
	Priority        int               `json:"priority"`
	Queries         map[string]string `json:"queries,omitempty"`
	ETag            string            `json:"etag"`
}

// Counts are the results of the last sweep for one configuration.
type Counts struct {
	Targeted int64
	Applied  int64
	Custom   map[string]int64
}

// Wire is the configuration as the service API answers it, with the
// counts of the last sweep.
func (c *Configuration) Wire(n Counts) map[string]any {
	labels := c.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	queries := c.Queries
	if queries == nil {
		queries = map[string]string{}
	}
	results := map[string]int64{}
	for name := range queries {
		results[name] = n.Custom[name]
	}
	content := map[string]any{}
	if c.Content.DeviceContent != nil {
		content["deviceContent"] = c.Content.DeviceContent
	}
	if c.Content.ModulesContent != nil {
		content["modulesContent"] = c.Content.ModulesContent
	}
	if c.Content.ModuleContent != nil {
		content["moduleContent"] = c.Content.ModuleContent
	}
	w := map[string]any{
		"id":                 c.ID,
		"schemaVersion":      c.SchemaVersion,
		"labels":             labels,
		"content":            content,
		"targetCondition":    c.TargetCondition,
		"createdTimeUtc":     wireTime(c.Created),
		"lastUpdatedTimeUtc": wireTime(c.LastUpdated),
		"priority":           c.Priority,
		"systemMetrics": map[string]any{
			"results": map[string]int64{"targetedCount": n.Targeted, "appliedCount": n.Applied},
			"queries": map[string]string{
				"targetedCount": c.targetedQuery(),
				"appliedCount":  c.appliedQuery(),
			},
		},
		"metrics": map[string]any{"results": results, "queries": queries},
		"etag":    c.ETag,
	}
	if c.ContentType != "" {
		w["contentType"] = c.ContentType
	}
	return w
}

// targetedQuery is the query of systemMetrics' targetedCount.
func (c *Configuration) targetedQuery() string {
	cond := strings.TrimSpace(c.TargetCondition)
	switch {
	case isModuleTarget(cond):
		return "select deviceId, moduleId " + cond
	case cond == "" || cond == "*":
		return "select deviceId from devices"
	}
	return "select deviceId from devices where " + cond
}

// appliedQuery is the query of systemMetrics' appliedCount: the twins whose
// configurations property says this configuration is applied (on
// $edgeAgent's twin for a deployment).
func (c *Configuration) appliedQuery() string {
	status := "configurations.[[" + c.ID + "]].status = 'Applied'"
	switch c.Kind() {
	case EdgeKind:
		return "select deviceId from devices.modules where moduleId = '$edgeAgent' and " + status
	case ModuleKind:
		return "select deviceId, moduleId from devices.modules where " + status
	}
	return "select deviceId from devices where " + status
}

func wireTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// body is a Configuration request body as the SDKs send it.
type body struct {
	ID              string            `json:"id"`
	SchemaVersion   string            `json:"schemaVersion"`
	Labels          map[string]string `json:"labels"`
	Content         *Content          `json:"content"`
	ContentType     string            `json:"contentType"`
	TargetCondition string            `json:"targetCondition"`
	Priority        *int              `json:"priority"`
	Metrics         *struct {
		Queries map[string]string `json:"queries"`
	} `json:"metrics"`
}

// Parse validates a configuration body for the id of the URL and returns
// the configuration it describes (without times or etag). Every refusal is
// an *errcode.Error.
func Parse(id string, raw []byte) (*Configuration, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errcode.New(errcode.ArgumentNull, "The configuration body is empty.")
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, errcode.New(errcode.ArgumentInvalid, "The body is not a valid Configuration: %v.", err)
	}
	if b.ID != "" && b.ID != id {
		return nil, errcode.New(errcode.ArgumentInvalid, "The body is for configuration '%s', but the URL names configuration '%s'.", b.ID, id)
	}
	if b.SchemaVersion != "" && b.SchemaVersion != "1.0" {
		return nil, errcode.New(errcode.ArgumentInvalid, "schemaVersion '%s' is not supported; use 1.0.", b.SchemaVersion)
	}
	if b.Content == nil || b.Content.empty() {
		return nil, errcode.New(errcode.ArgumentNull, "The configuration needs content: deviceContent, modulesContent or moduleContent.")
	}
	if len(b.Content.DeviceContent) > 0 && (len(b.Content.ModulesContent) > 0 || len(b.Content.ModuleContent) > 0) {
		return nil, errcode.New(errcode.ArgumentInvalid, "A configuration holds device content or module content, not both.")
	}
	if b.Priority != nil && *b.Priority < 0 {
		return nil, errcode.New(errcode.ArgumentInvalid, "priority must not be negative, not %d.", *b.Priority)
	}
	if err := checkContent(*b.Content); err != nil {
		return nil, err
	}
	if _, err := TargetQuery(b.TargetCondition); err != nil {
		return nil, err
	}
	switch modules := isModuleTarget(b.TargetCondition); {
	case len(b.Content.ModuleContent) > 0 && modulePaths(b.Content.ModuleContent) && !modules && strings.TrimSpace(b.TargetCondition) != "":
		return nil, errcode.New(errcode.ArgumentInvalid, "The targetCondition of module content must start with 'FROM devices.modules WHERE'.")
	case modules && (len(b.Content.ModuleContent) == 0 || !modulePaths(b.Content.ModuleContent)):
		return nil, errcode.New(errcode.ArgumentInvalid, "A targetCondition over devices.modules needs moduleContent.")
	}
	c := &Configuration{ID: id, SchemaVersion: "1.0", Labels: b.Labels, Content: *b.Content,
		ContentType: b.ContentType, TargetCondition: b.TargetCondition}
	if b.Priority != nil {
		c.Priority = *b.Priority
	}
	if b.Metrics != nil {
		for name, text := range b.Metrics.Queries {
			if err := checkMetricQuery(name, text); err != nil {
				return nil, err
			}
		}
		c.Queries = b.Metrics.Queries
	}
	return c, nil
}

// TargetQuery compiles a target condition into the query of the twins it
// selects: a WHERE clause (or "*") over device twins, or, for module
// content, "FROM devices.modules WHERE ..." over module twins. An empty
// condition selects nothing (nil query, no error).
func TargetQuery(cond string) (*query.Query, error) {
	cond = strings.TrimSpace(cond)
	if cond == "" {
		return nil, nil
	}
	text := "SELECT * FROM devices"
	switch {
	case isModuleTarget(cond):
		text = "SELECT * " + cond
	case cond != "*":
		text += " WHERE " + cond
	}
	q, err := query.Parse(text)
	if err != nil {
		return nil, errcode.Wrap(errcode.ArgumentInvalid, err, "The targetCondition is invalid: %v", err)
	}
	return q, nil
}

// isModuleTarget reports whether a target condition selects module twins,
// as module content's must ("FROM devices.modules WHERE ...").
func isModuleTarget(cond string) bool {
	f := strings.Fields(strings.ToLower(cond))
	return len(f) >= 2 && f[0] == "from" && f[1] == "devices.modules"
}

func checkMetricQuery(name, text string) error {
	if name == "" {
		return errcode.New(errcode.ArgumentInvalid, "A custom metric has an empty name.")
	}
	if _, err := query.Parse(text); err != nil {
		return errcode.Wrap(errcode.ArgumentInvalid, err, "The query of custom metric '%s' is invalid: %v", name, err)
	}
	return nil
}

// CheckID refuses an id IoT Hub would: empty, too long, or holding other
// than lowercase letters, digits and -:+%_#*?!(),=@;$'.
func CheckID(id string) error {
	if id == "" {
		return errcode.New(errcode.ArgumentNull, "The configuration id is empty.")
	}
	if len(id) > maxIDLength {
		return errcode.New(errcode.ArgumentInvalid, "The configuration id is longer than %d characters.", maxIDLength)
	}
	for _, r := range id {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || strings.ContainsRune(idPunctuation, r) {
			continue
		}
		return errcode.New(errcode.ArgumentInvalid, "The configuration id '%s' may hold only lowercase letters, digits and %s.", id, idPunctuation)
	}
	return nil
}

// contains reports whether have holds want: equal values, or, for
// objects, every key of want held by have (a null key: absent).
func contains(have, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(have, want)
	}
	hm, ok := have.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range wm {
		hv, present := hm[k]
		if wv == nil {
			if present && hv != nil {
				return false
			}
			continue
		}
		if !present || !contains(hv, wv) {
			return false
		}
	}
	return true
}

// normalize gives a value the shapes JSON decoding gives (float64 numbers).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}
