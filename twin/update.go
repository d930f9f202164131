package twin

import "time"

// DesiredChange describes what a service write did to desired properties,
// for the notification the hub pushes to a connected device on
// $iothub/twin/PATCH/properties/desired/?$version=N.
type DesiredChange struct {
	Changed bool
	Version int64 // new desired $version
	// Patch is the notification body: for Patch the applied patch (nulls kept
	// to signal deletion), for Replace the full new desired document plus a
	// null for every key it removed. It always has "$version": Version.
	Patch map[string]any
	order *keyOrder // the service's key order of the desired section
}

// Body is the notification body: Patch as JSON, keys in the order the
// service wrote them and "$version" last.
func (c DesiredChange) Body() ([]byte, error) { return marshalOrdered(c.Patch, c.order) }

// Patch applies a service PATCH: a JSON merge-patch of tags and desired
// properties (objects merge recursively, scalars and arrays replace, null
// deletes, untouched keys stay). Top-level "$" members are ignored.
//
// Any accepted write bumps the twin version and ETag. A write that carries
// desired properties bumps desired $version and reports Changed even when the
// desired patch is empty (users report IoT Hub doing so for tag updates from
// an SDK that always sends the desired section). On error the twin is
// unchanged.
func (t *Twin) Patch(u ServiceUpdate, now time.Time) (DesiredChange, error) {
	next, change, err := t.Patched(u, now)
	return change, t.become(next, err)
}

// Patched is Patch without touching t: it returns the twin after the write,
// which shares nothing with t. A caller that publishes twins other goroutines
// read without locks writes through Patched, at the cost of one copy.
func (t *Twin) Patched(u ServiceUpdate, now time.Time) (*Twin, DesiredChange, error) {
	tags, desired, err := serviceSections(u)
	if err != nil {
		return nil, DesiredChange{}, err
	}
	next := t.Clone()
	if u.HasTags {
		next.tags = copyMap(next.tags) // shared with t until now
		mergePlain(next.tags, tags)
	}
	var change DesiredChange
	if u.HasDesired {
		next.desired.version++
		next.desired.rootNode().merge(desired, stamp{at: stampTime(now), version: next.desired.version})
		change = desiredChange(next.desired.version, desired, u.desiredOrder)
	}
	if err := next.checkSizes(u.HasTags, u.HasDesired, false); err != nil {
		return nil, DesiredChange{}, err
	}
	next.written()
	return next, change, nil
}

// Replace applies a service PUT: tags and desired properties present in the
// body replace the current ones wholesale; a null member inside them means
// absent. A section the body does not carry (ServiceUpdate.HasTags or
// HasDesired false) is kept as it is, not cleared: IoT Hub's behaviour here
// is unverified, and keeping what the caller did not mention cannot lose
// data. Every node of a replaced desired section is stamped with the new
// $version and now, changed or not.
//
// Versions, ETag and the all-or-nothing rule are as for Patch.
func (t *Twin) Replace(u ServiceUpdate, now time.Time) (DesiredChange, error) {
	next, change, err := t.Replaced(u, now)
	return change, t.become(next, err)
}

// Replaced is Replace without touching t, as Patched is Patch.
func (t *Twin) Replaced(u ServiceUpdate, now time.Time) (*Twin, DesiredChange, error) {
	tags, desired, err := serviceSections(u)
	if err != nil {
		return nil, DesiredChange{}, err
	}
	next := t.Clone()
	if u.HasTags {
		next.tags = dropNulls(tags)
	}
	var change DesiredChange
	if u.HasDesired {
		doc := dropNulls(desired)
		old := next.desired.rootNode().plain().(map[string]any)
		next.desired.version++
		next.desired.root = ptr(newTree(doc, stamp{at: stampTime(now), version: next.desired.version}))
		change = desiredChange(next.desired.version, withRemovals(doc, old), u.desiredOrder)
	}
	if err := next.checkSizes(u.HasTags, u.HasDesired, false); err != nil {
		return nil, DesiredChange{}, err
	}
	next.written()
	return next, change, nil
}

// PatchReported applies a device's reported-properties patch (the raw MQTT
// payload): a JSON merge-patch of properties.reported. The body must be a
// JSON object; any key containing "$" is refused. It returns the new reported
// $version; on error the twin is unchanged.
func (t *Twin) PatchReported(body []byte, now time.Time) (int64, error) {
	next, err := t.PatchedReported(body, now)
	if err := t.become(next, err); err != nil {
		return 0, err
	}
	return t.reported.version, nil
}

// PatchedReported is PatchReported without touching t, as Patched is Patch:
// it returns the twin after the write, whose ReportedVersion is the new
// reported $version.
func (t *Twin) PatchedReported(body []byte, now time.Time) (*Twin, error) {
	raw, err := decodeObject("reported properties patch", body)
	if err != nil {
		return nil, err
	}
	return t.PatchedReportedValues(raw, now)
}

// PatchedReportedValues is PatchedReported for a patch already decoded
// (JSON values: maps, slices, strings, float64, bool, nil), as a bulk load
// holds it; the patch is checked as a body's would be and never modified.
func (t *Twin) PatchedReportedValues(raw map[string]any, now time.Time) (*Twin, error) {
	patch, err := checked(secReported, raw)
	if err != nil {
		return nil, err
	}
	next := t.Clone()
	next.reported.version++
	next.reported.rootNode().merge(patch, stamp{at: stampTime(now)})
	if err := next.checkSizes(false, false, true); err != nil {
		return nil, err
	}
	next.written()
	return next, nil
}

// become makes t the twin a write returned, unless the write failed.
func (t *Twin) become(next *Twin, err error) error {
	if err == nil {
		*t = *next
	}
	return err
}

// serviceSections validates the sections an update carries. The update may
// come from ParseServiceBody or be built by the caller, so it is checked (and
// copied) again here: the twin must never share a map with its caller.
func serviceSections(u ServiceUpdate) (tags, desired map[string]any, err error) {
	if u.HasTags {
		if tags, err = checked(secTags, withoutReadOnly(secTags, u.Tags)); err != nil {
			return nil, nil, err
		}
	}
	if u.HasDesired {
		if desired, err = checked(secDesired, withoutReadOnly(secDesired, u.Desired)); err != nil {
			return nil, nil, err
		}
	}
	return tags, desired, nil
}

// checkSizes enforces the size limits of the sections a write touched (only
// those, so that a twin loaded over a limit can still take other writes).
func (t *Twin) checkSizes(tags, desired, reported bool) error {
	if tags {
		if err := checkSize(secTags, sectionSize(t.tags), MaxTagsSize); err != nil {
			return err
		}
	}
	if desired {
		if err := checkSize(secDesired, nodeSize(t.desired.root), MaxDesiredSize); err != nil {
			return err
		}
	}
	if reported {
		return checkSize(secReported, nodeSize(t.reported.root), MaxReportedSize)
	}
	return nil
}

func desiredChange(version int64, body map[string]any, order *keyOrder) DesiredChange {
	p := copyMap(body)
	p["$version"] = float64(version)
	return DesiredChange{Changed: true, Version: version, Patch: p, order: order}
}

// withRemovals returns doc plus a null for every key of old that doc no
// longer has, recursing where both hold an object: the notification for a
// replace then tells a device which properties disappeared (IoT Hub sends
// the same, per its team's description of PUT notifications).
func withRemovals(doc, old map[string]any) map[string]any {
	out := copyMap(doc)
	for k, ov := range old {
		nv, ok := doc[k]
		if !ok {
			out[k] = nil
			continue
		}
		om, oldObj := ov.(map[string]any)
		nm, newObj := nv.(map[string]any)
		if oldObj && newObj {
			out[k] = withRemovals(nm, om)
		}
	}
	return out
}
