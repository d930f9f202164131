package configurations

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/registry"
)

// Kind is what a configuration's content applies to.
type Kind int

const (
	// DeviceKind: deviceContent, written into device twins.
	DeviceKind Kind = iota
	// EdgeKind: modulesContent (an IoT Edge deployment), written into the
	// module twins of IoT Edge devices ($edgeAgent, $edgeHub and others).
	EdgeKind
	// ModuleKind: moduleContent, written into the module twins a
	// "FROM devices.modules" condition selects.
	ModuleKind
	// storedKind: per-module moduleContent, kept and returned, applied to
	// nothing.
	storedKind
)

// Kind says what the configuration applies to.
func (c *Configuration) Kind() Kind {
	switch {
	case len(c.Content.ModulesContent) > 0:
		return EdgeKind
	case len(c.Content.ModuleContent) > 0:
		return ModuleKind
	}
	return DeviceKind
}

// desiredWhole is the modulesContent key that sets a module twin's whole
// desired properties (a base deployment); "properties.desired.{path}" keys
// set one path (a layered deployment).
const desiredWhole = "properties.desired"

// checkContent applies the shape rules of each kind of content.
func checkContent(c Content) error {
	if err := checkPaths("deviceContent", c.DeviceContent); err != nil {
		return err
	}
	if modulePaths(c.ModuleContent) {
		if err := checkPaths("moduleContent", c.ModuleContent); err != nil {
			return err
		}
	} else if err := checkModules("moduleContent", c.ModuleContent); err != nil {
		return err
	}
	return checkModules("modulesContent", c.ModulesContent)
}

// modulePaths reports whether moduleContent has IoT Hub's documented
// shape, properties.desired paths applied to the module twins a "FROM
// devices.modules" condition selects, rather than the per-module shape of
// modulesContent that older SDK samples send (stored, never applied).
func modulePaths(content map[string]any) bool {
	for k := range content {
		if !strings.HasPrefix(k, desiredPrefix) {
			return false
		}
	}
	return true
}

// checkModules checks per-module content: module ids, each with
// "properties.desired" (an object) or properties.desired paths.
func checkModules(section string, modules map[string]any) error {
	for module, v := range modules {
		if err := registry.ValidateID("Module", module); err != nil {
			return errcode.New(errcode.ArgumentInvalid, "%s names an invalid module '%s'.", section, module)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return errcode.New(errcode.ArgumentInvalid, "%s.%s must be an object of properties.desired paths.", section, module)
		}
		whole, hasWhole := m[desiredWhole]
		if hasWhole {
			if _, ok := whole.(map[string]any); !ok {
				return errcode.New(errcode.ArgumentInvalid, "%s.%s.properties.desired must be an object.", section, module)
			}
		}
		rest := make(map[string]any, len(m))
		for k, pv := range m {
			if k != desiredWhole {
				rest[k] = pv
			}
		}
		if err := checkPaths(section+"."+module, rest); err != nil {
			return err
		}
	}
	return nil
}

// checkPaths checks content keys: paths under properties.desired. whose
// segments are neither empty nor reserved.
func checkPaths(section string, content map[string]any) error {
	for path := range content {
		if !strings.HasPrefix(path, desiredPrefix) || len(path) == len(desiredPrefix) {
			return errcode.New(errcode.ArgumentInvalid, "%s key '%s' is not a path under properties.desired.", section, path)
		}
		for _, seg := range strings.Split(strings.TrimPrefix(path, desiredPrefix), ".") {
			if seg == "" || strings.HasPrefix(seg, "$") {
				return errcode.New(errcode.ArgumentInvalid, "%s key '%s' has an empty or reserved segment.", section, path)
			}
		}
	}
	return nil
}

// twinWrite is the content one twin receives: values by path under
// properties.desired, and, for a base deployment, the whole desired set.
type twinWrite struct {
	paths map[string]any
	whole map[string]any // nil: only paths
}

// moduleWrites is a deployment's content by module, in module order.
func moduleWrites(modules map[string]any) ([]string, map[string]twinWrite) {
	names := make([]string, 0, len(modules))
	out := make(map[string]twinWrite, len(modules))
	for name, v := range modules {
		m, _ := v.(map[string]any)
		w := twinWrite{paths: map[string]any{}}
		for k, pv := range m {
			if k == desiredWhole {
				w.whole, _ = pv.(map[string]any)
				continue
			}
			w.paths[k] = pv
		}
		names = append(names, name)
		out[name] = w
	}
	sort.Strings(names)
	return names, out
}

// desiredOf is a twin document's desired properties without the
// hub-maintained $metadata and $version.
func desiredOf(twinDoc map[string]any) map[string]any {
	props, _ := twinDoc["properties"].(map[string]any)
	desired, _ := props["desired"].(map[string]any)
	out := make(map[string]any, len(desired))
	for k, v := range desired {
		if !strings.HasPrefix(k, "$") {
			out[k] = v
		}
	}
	return out
}

// expected is the desired set a base deployment leaves: the whole set
// with the paths set in it.
func (w twinWrite) expected() map[string]any {
	out, _ := normalize(w.whole).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	setPaths(out, w.paths)
	return out
}

// heldBy reports whether a twin's desired properties hold the write: equal
// to a base deployment's whole set, and holding every path's value.
func (w twinWrite) heldBy(twinDoc map[string]any) bool {
	desired := desiredOf(twinDoc)
	if w.whole != nil {
		return reflect.DeepEqual(any(desired), normalize(w.expected()))
	}
	for path, want := range w.paths {
		var cur any = desired
		for _, s := range strings.Split(strings.TrimPrefix(path, desiredPrefix), ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[s]
		}
		if !contains(cur, normalize(want)) {
			return false
		}
	}
	return true
}

// update is the twin write that makes a twin hold w. Paths alone merge (a
// PATCH). A whole set replaces the desired properties: a PUT that keeps
// the twin's tags, conditional on the twin's etag so that a tag written
// meanwhile is not lost (the next sweep then tries again).
func (w twinWrite) update(twinDoc map[string]any) (body []byte, replace bool, ifMatch string, err error) {
	if w.whole == nil {
		desired := map[string]any{}
		setPaths(desired, w.paths)
		body, err = json.Marshal(map[string]any{"properties": map[string]any{"desired": desired}})
	} else {
		tags, _ := twinDoc["tags"].(map[string]any)
		if tags == nil {
			tags = map[string]any{}
		}
		etag, _ := twinDoc["etag"].(string)
		replace, ifMatch = true, etag
		body, err = json.Marshal(map[string]any{"tags": tags, "properties": map[string]any{"desired": w.expected()}})
	}
	if err != nil {
		return nil, false, "", fmt.Errorf("encode configuration content: %w", err)
	}
	return body, replace, ifMatch, nil
}

// setPaths sets each properties.desired.{path} value in desired, making
// the objects on the way.
func setPaths(desired map[string]any, paths map[string]any) {
	for path, v := range paths {
		segs := strings.Split(strings.TrimPrefix(path, desiredPrefix), ".")
		m := desired
		for _, s := range segs[:len(segs)-1] {
			next, ok := m[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[s] = next
			}
			m = next
		}
		m[segs[len(segs)-1]] = v
	}
}

// ParseContent decodes and checks the body of applyConfigurationContent:
// a ConfigurationContent with modulesContent (an IoT Edge deployment for
// one device) and, optionally, deviceContent.
func ParseContent(raw []byte) (Content, error) {
	var c Content
	if len(strings.TrimSpace(string(raw))) == 0 {
		return c, errcode.New(errcode.ArgumentNull, "The request body is empty; send the configuration content.")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, errcode.New(errcode.ArgumentInvalid, "The body is not a valid ConfigurationContent: %v.", err)
	}
	if len(c.ModulesContent) == 0 {
		return c, errcode.New(errcode.ArgumentNull, "The configuration content needs modulesContent.")
	}
	if len(c.ModuleContent) > 0 {
		return c, errcode.New(errcode.ArgumentInvalid, "moduleContent is applied by configurations, not to one device.")
	}
	if err := checkContent(c); err != nil {
		return c, err
	}
	return c, nil
}
