// Package fileupload is IoT Hub's file upload: a device asks for a SAS URI
// of a blob, uploads to the storage account itself, and tells the hub how
// the upload went; on success the service side receives a file upload
// notification. The storage is the emulator's built-in blob endpoint or an
// account of the user's (Storage).
//
// Active uploads live in memory (a restart forgets them, as their SAS
// would soon expire anyway); notifications are kept in the store until a
// service receiver completes them or they expire.
package fileupload

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
	"github.com/iothub-emulator/iothub-emulator/errcode"
	"github.com/iothub-emulator/iothub-emulator/store"
)

// Defaults, IoT Hub's own where it has one.
const (
	DefaultContainer   = "fileuploads"
	DefaultSASTTL      = time.Hour // IoT Hub's default SAS TTL for file upload
	DefaultMaxActive   = 10        // active uploads per device
	DefaultLockTimeout = time.Minute
	DefaultTTL         = time.Hour // file notification TTL, IoT Hub's default
	maxBlobNameLength  = 1024      // Azure Storage's limit, device id prefix included
)

// NotificationContentType is how a file upload notification is labelled.
const NotificationContentType = "application/json"

// Storage is where devices upload.
type Storage interface {
	// HostName is the answer's hostName for a device that reached the hub
	// at requestHost: https://{hostName}/{container}/{blob} is the blob.
	HostName(requestHost string) string
	// SAS signs a service SAS query string (no '?') for one blob.
	SAS(container, blob string, s blobstore.SAS) (string, error)
	// Stat returns a blob's properties; ok is false when the blob is not
	// there or the storage cannot tell.
	Stat(container, blob string) (p blobstore.Properties, ok bool, err error)
}

// BuiltIn is the emulator's own blob endpoint, path-style under the host
// the device used.
type BuiltIn struct{ Server *blobstore.Server }

func (b BuiltIn) HostName(requestHost string) string { return requestHost + "/" + b.Server.Account() }
func (b BuiltIn) SAS(container, blob string, s blobstore.SAS) (string, error) {
	return b.Server.SAS(container, blob, s)
}
func (b BuiltIn) Stat(container, blob string) (blobstore.Properties, bool, error) {
	return b.Server.Stat(container, blob)
}

// External is a storage account of the user's, named by a connection
// string: the hub only signs SAS tokens for it.
type External struct{ Account blobstore.Account }

func (e External) HostName(string) string { return e.Account.HostName() }
func (e External) SAS(container, blob string, s blobstore.SAS) (string, error) {
	return blobstore.SignBlobSAS(e.Account.Name, e.Account.Key, container, blob, s)
}
func (e External) Stat(string, string) (blobstore.Properties, bool, error) {
	return blobstore.Properties{}, false, nil
}

// Upload is the answer to a device's file upload request.
type Upload struct {
	CorrelationID string `json:"correlationId"`
	HostName      string `json:"hostName"`
	ContainerName string `json:"containerName"`
	BlobName      string `json:"blobName"`
	SASToken      string `json:"sasToken"`
}

// Result is a device's report of an upload.
type Result struct {
	IsSuccess         bool
	StatusCode        int
	StatusDescription string
}

// Notification tells the service a device uploaded a file.
type Notification struct {
	DeviceID        string    `json:"deviceId"`
	BlobURI         string    `json:"blobUri"`
	BlobName        string    `json:"blobName"`
	LastUpdatedTime time.Time `json:"lastUpdatedTime"`
	BlobSizeInBytes int64     `json:"blobSizeInBytes"`
	EnqueuedTime    time.Time `json:"enqueuedTimeUtc"`
}

// Options configure a Manager.
type Options struct {
	Store   store.Store
	Storage Storage
	// Container is the blob container uploads go to ("": DefaultContainer).
	Container string
	// SASTTL, MaxActive, LockTimeout and TTL: 0 means the defaults above.
	SASTTL      time.Duration
	MaxActive   int
	LockTimeout time.Duration
	TTL         time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

type session struct {
	deviceID, blobName, hostName string
	expires                      time.Time
}

type entry struct {
	seq         int64
	n           Notification
	lock        string // the lock token of the receiver holding it, if any
	lockedUntil time.Time
}

// Manager runs file uploads and keeps their notifications.
type Manager struct {
	st        store.Store
	storage   Storage
	container string
	sasTTL    time.Duration
	maxActive int
	lockTTL   time.Duration
	ttl       time.Duration
	log       *slog.Logger
	now       func() time.Time

	mu       sync.Mutex
	sessions map[string]session // by correlation id
	entries  []*entry           // oldest first
	nextSeq  int64
	added    chan struct{} // closed and replaced when a notification is added
}

// New returns a Manager with the notifications kept in opts.Store.
func New(opts Options) (*Manager, error) {
	m := &Manager{st: opts.Store, storage: opts.Storage, container: opts.Container, sasTTL: opts.SASTTL, maxActive: opts.MaxActive,
		lockTTL: opts.LockTimeout, ttl: opts.TTL, log: opts.Logger, now: opts.Now,
		sessions: map[string]session{}, added: make(chan struct{})}
	if m.container == "" {
		m.container = DefaultContainer
	}
	if m.sasTTL <= 0 {
		m.sasTTL = DefaultSASTTL
	}
	if m.maxActive <= 0 {
		m.maxActive = DefaultMaxActive
	}
	if m.lockTTL <= 0 {
		m.lockTTL = DefaultLockTimeout
	}
	if m.ttl <= 0 {
		m.ttl = DefaultTTL
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	err := m.st.ForEach(store.FileNotifications, func(k string, v []byte) error {
		seq, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return fmt.Errorf("file notification key %q: %w", k, err)
		}
		var n Notification
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("file notification %q: %w", k, err)
		}
		m.entries = append(m.entries, &entry{seq: seq, n: n})
		m.nextSeq = max(m.nextSeq, seq+1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fileupload: load notifications: %w", err)
	}
	return m, nil
}

func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

func newCorrelationID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) // safe in a path segment unescaped
}

// Start begins an upload of blobName for deviceID, which reached the hub
// at requestHost.
func (m *Manager) Start(deviceID, blobName, requestHost string) (Upload, error) {
	if blobName == "" {
		return Upload{}, errcode.New(errcode.ArgumentNull, "blobName is required.")
	}
	full := deviceID + "/" + blobName
	if len(full) > maxBlobNameLength {
		return Upload{}, errcode.New(errcode.ArgumentInvalid, "The blob name, with the device id before it, is longer than %d characters.", maxBlobNameLength)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	active := 0
	for id, s := range m.sessions {
		if !now.Before(s.expires) {
			delete(m.sessions, id) // its SAS expired: the upload is over
			continue
		}
		if s.deviceID == deviceID {
			active++
		}
	}
	if active >= m.maxActive {
		return Upload{}, errcode.New(errcode.DeviceMaximumActiveFileUploadLimitExceeded,
			"Device %s already has %d active file uploads; notify the hub of their outcome first.", deviceID, active)
	}
	expires := now.Add(m.sasTTL)
	sas, err := m.storage.SAS(m.container, full, blobstore.SAS{Permissions: "rcw", Expiry: expires})
	if err != nil {
		return Upload{}, errcode.Wrap(errcode.ServerError, err, "The upload's SAS could not be signed.")
	}
	up := Upload{CorrelationID: newCorrelationID(), HostName: m.storage.HostName(requestHost), ContainerName: m.container, BlobName: full, SASToken: "?" + sas}
	m.sessions[up.CorrelationID] = session{deviceID: deviceID, blobName: full, hostName: up.HostName, expires: expires}
	return up, nil
}

// Complete ends deviceID's upload correlationID with the device's result;
// a success adds a notification. An unknown id (or another device's, or
// one already completed) fails with InvalidFileUploadCorrelationId.
func (m *Manager) Complete(ctx context.Context, deviceID, correlationID string, r Result) error {
	m.mu.Lock()
	s, ok := m.sessions[correlationID]
	if !ok || s.deviceID != deviceID {
		m.mu.Unlock()
		return errcode.New(errcode.InvalidFileUploadCorrelationId, "The correlation id is not that of an active file upload of this device.")
	}
	if !r.IsSuccess {
		delete(m.sessions, correlationID)
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()

	now := m.now().UTC()
	n := Notification{DeviceID: deviceID, BlobURI: "https://" + s.hostName + "/" + m.container + "/" + s.blobName, BlobName: s.blobName,
		LastUpdatedTime: now, EnqueuedTime: now}
	if p, found, err := m.storage.Stat(m.container, s.blobName); err != nil {
		m.log.Warn("file upload: blob properties", "blob", s.blobName, "err", err)
	} else if found {
		n.LastUpdatedTime, n.BlobSizeInBytes = p.LastModified.UTC(), p.Size
	}
	raw, err := json.Marshal(n)
	if err != nil {
		return errcode.Wrap(errcode.ServerError, err, "The file notification could not be encoded.")
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, still := m.sessions[correlationID]; !still { // a concurrent notify of the same upload won
		return errcode.New(errcode.InvalidFileUploadCorrelationId, "The correlation id is not that of an active file upload of this device.")
	}
	seq := m.nextSeq
	ops, drop := m.dropExpired(m.now())
	if err := m.st.Apply(ctx, append(ops, store.Op{Bucket: store.FileNotifications, Key: seqKey(seq), Value: raw})...); err != nil {
		return errcode.Wrap(errcode.ServerError, err, "The file notification could not be stored.")
	}
	drop()
	m.nextSeq++
	delete(m.sessions, correlationID)
	m.entries = append(m.entries, &entry{seq: seq, n: n})
	close(m.added)
	m.added = make(chan struct{})
	return nil
}

// Notifications returns the kept notifications, oldest first.
func (m *Manager) Notifications() []Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Notification, 0, len(m.entries))
	now := m.now()
	for _, e := range m.entries {
		if !m.expired(e, now) {
			out = append(out, e.n)
		}
	}
	return out
}

// Added returns a channel closed when a notification is next added: take
// it, try Receive, and wait on it if there was none.
func (m *Manager) Added() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.added
}

// Receive hands out the oldest notification no receiver holds, locked for
// the lock timeout; ok is false if there is none.
func (m *Manager) Receive() (n Notification, lockToken string, ok bool) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.lock != "" && now.Before(e.lockedUntil) || m.expired(e, now) {
			continue
		}
		e.lock, e.lockedUntil = newCorrelationID(), now.Add(m.lockTTL)
		return e.n, e.lock, true
	}
	return Notification{}, "", false
}

// CompleteNotification deletes a received notification. An unknown token,
// or one whose lock ran out, fails with DeviceMessageLockLost.
func (m *Manager) CompleteNotification(ctx context.Context, lockToken string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.held(lockToken)
	if err != nil {
		return err
	}
	if err := m.st.Apply(ctx, store.Op{Bucket: store.FileNotifications, Key: seqKey(e.seq)}); err != nil {
		return fmt.Errorf("fileupload: complete notification: %w", err)
	}
	m.entries = slices.DeleteFunc(m.entries, func(x *entry) bool { return x == e })
	return nil
}

// AbandonNotification makes a received notification receivable again.
func (m *Manager) AbandonNotification(lockToken string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.held(lockToken)
	if err != nil {
		return err
	}
	e.lock = ""
	return nil
}

// held is the entry lockToken still holds. Called with m.mu.
func (m *Manager) held(lockToken string) (*entry, error) {
	now := m.now()
	for _, e := range m.entries {
		if lockToken != "" && e.lock == lockToken && now.Before(e.lockedUntil) {
			return e, nil
		}
	}
	return nil, errcode.New(errcode.DeviceMessageLockLost, "The lock token is not valid: the notification was already completed or its lock expired.")
}

// expired reports whether e outlived the TTL and no receiver holds it.
func (m *Manager) expired(e *entry, now time.Time) bool {
	return !now.Before(e.n.EnqueuedTime.Add(m.ttl)) && !(e.lock != "" && now.Before(e.lockedUntil))
}

// dropExpired returns the ops deleting the expired notifications, and
// a function removing them from memory once those ops are applied.
// Expiry is lazy: expired notifications are skipped when read and deleted
// with the next change. Called with m.mu.
func (m *Manager) dropExpired(now time.Time) ([]store.Op, func()) {
	var ops []store.Op
	gone := map[*entry]bool{}
	for _, e := range m.entries {
		if m.expired(e, now) {
			ops = append(ops, store.Op{Bucket: store.FileNotifications, Key: seqKey(e.seq)})
			gone[e] = true
		}
	}
	return ops, func() { m.entries = slices.DeleteFunc(m.entries, func(x *entry) bool { return gone[x] }) }
}
