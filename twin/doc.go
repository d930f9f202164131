// Package twin is the pure document logic of IoT Hub device and module twins:
// tags, desired and reported properties, their $metadata and $version, the
// twin version and ETag, merge-patch and replace semantics, and the limits
// IoT Hub enforces on keys, values, depth and section sizes.
//
// It knows nothing of storage, HTTP or MQTT. The hub keeps one *Twin per
// device or module, clones it, applies an operation to the clone, persists
// the clone (MarshalJSON) and swaps it in. An operation that returns an error
// leaves its receiver exactly as it was, so the hub never persists half of a
// rejected write. A Twin is not safe for concurrent writes; concurrent reads
// (the view methods) are safe.
//
// Every wire-visible error is an *errcode.Error with code ArgumentInvalid.
package twin
