// Package seed describes a hub's identities and twins in one document that
// people write by hand (YAML or JSON), applies it to a hub, and exports a
// hub back into the same form.
//
// An instructor prepares a hub once, exports or writes it as a seed
// document, and every student's emulator starts from it. Fixed keys in the
// document keep connection strings the same on every machine and run.
//
// Apply makes the hub match the document for every identity the document
// lists and leaves every other identity alone. For a listed identity the
// document is the whole truth about its status, edge capability,
// authentication type, tags, desired and reported properties: a section the
// document leaves out is made empty. Keys are the one exception: a key the
// document leaves out is generated when the identity is created and kept
// afterwards, so a document without keys can be applied again and again
// without changing anyone's connection string. Apply never deletes a device
// or a module.
//
// A document may also hold the Device Provisioning Service's enrollment
// groups and enrollments, in DPS's JSON shape, and x509CAs, CA
// certificates the hub trusts beside those it was started with (see
// provisioning.go); the same rules hold for them.
package seed
