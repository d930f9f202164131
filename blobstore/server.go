// Package blobstore is a small Azure Blob Storage endpoint: the operations
// the Azure Storage SDKs' blob clients call to upload and download a block
// blob (Put Blob, Put Block, Put Block List, Get Blob with ranges, Get Blob
// Properties), authorized by a service SAS signed with the account's key.
// The emulator serves it for file upload, path-style under /{account}/.
//
// Committed blobs are kept in a directory (or in memory); uncommitted
// blocks only in memory, so a restart drops them as if they had expired.
package blobstore

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBlobSize bounds a blob, and a block, of the built-in endpoint:
// far above what a device uploads in a test, far below the memory of the
// machine it runs on.
const DefaultMaxBlobSize = 256 << 20

// maxPendingBlobs bounds the blobs with uncommitted blocks at once.
const maxPendingBlobs = 1000

// maxBlockListBody bounds a Put Block List body (50,000 ids of 64 bytes in base64, in XML).
const maxBlockListBody = 8 << 20

// The emulator's built-in account: its name is the first path segment of
// the blob URLs (path-style, as the storage SDKs read a URL whose host is
// an IP address or localhost), and its key is well-known, like the hub's
// default policy keys, since the endpoint only ever serves the emulator's
// uploads, exports and imports.
const (
	BuiltInAccount = "iothubemulator"
	BuiltInKey     = "oP5Svw+paQQi5Fx0IQUnHVOrwPuK0V2CTssG850oPg2om4PhV298pdb3HHZuqBh8"
)

// Options configure a Server.
type Options struct {
	// Account is the storage account's name, the first path segment.
	Account string
	// Key is the account key (base64) SAS tokens are signed with.
	Key string
	// Dir keeps the committed blobs; "" keeps them in memory.
	Dir string
	// MaxBlobSize bounds a blob and a block (0: DefaultMaxBlobSize).
	MaxBlobSize int64
	Logger      *slog.Logger
	Now         func() time.Time
}

// Server serves one storage account's blobs.
type Server struct {
	account string
	keyB64  string
	key     []byte
	maxSize int64
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex // serializes changes, so a commit sees the blocks it names
	blobs   backend
	pending map[string]map[string][]byte // blob key → block id → bytes
}

// New returns the endpoint for opts.Account.
func New(opts Options) (*Server, error) {
	if !validAccount(opts.Account) {
		return nil, fmt.Errorf("blobstore: account name %q is not 3 to 24 lowercase letters and digits", opts.Account)
	}
	key, err := base64.StdEncoding.DecodeString(opts.Key)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("blobstore: account key is not base64: %w", err)
	}
	s := &Server{account: opts.Account, keyB64: opts.Key, key: key, maxSize: opts.MaxBlobSize, log: opts.Logger, now: opts.Now,
		pending: map[string]map[string][]byte{}}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxBlobSize
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Dir == "" {
		s.blobs = &memBackend{blobs: map[string]memBlob{}}
	} else {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("blobstore: %w", err)
		}
		s.blobs = &dirBackend{dir: opts.Dir}
	}
	return s, nil
}

// Account is the account's name.
func (s *Server) Account() string { return s.account }

// Prefix is the path prefix the endpoint serves: "/{account}/".
func (s *Server) Prefix() string { return "/" + s.account + "/" }

// SAS returns a service SAS query string (without '?') for one blob.
func (s *Server) SAS(container, blob string, sas SAS) (string, error) {
	return SignBlobSAS(s.account, s.keyB64, container, blob, sas)
}

// ContainerSAS returns a service SAS query string (without '?') for a
// container.
func (s *Server) ContainerSAS(container string, sas SAS) (string, error) {
	return SignContainerSAS(s.account, s.keyB64, container, sas)
}

// Properties are a committed blob's size and last change.
type Properties struct {
	Size         int64
	LastModified time.Time
}

// Stat returns a committed blob's properties; ok is false if there is none.
func (s *Server) Stat(container, blob string) (Properties, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok, err := s.blobs.meta(container + "/" + blob)
	return Properties{Size: m.Size, LastModified: m.LastModified}, ok, err
}

func validAccount(a string) bool {
	if len(a) < 3 || len(a) > 24 {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validContainer follows Azure's rule: 3 to 63 lowercase letters, digits
// and single hyphens, starting and ending with a letter or digit ($root
// and $logs are not served).
func validContainer(c string) bool {
	if len(c) < 3 || len(c) > 63 || c[0] == '-' || c[len(c)-1] == '-' || strings.Contains(c, "--") {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ServeHTTP serves a request whose path starts with Prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", newRequestID())
	if v := r.Header.Get("x-ms-version"); v != "" {
		w.Header().Set("x-ms-version", v)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, s.Prefix())
	container, blob, _ := strings.Cut(rest, "/")
	if !ok || !validContainer(container) || blob == "" || len(blob) > 1024 {
		s.writeError(w, http.StatusBadRequest, "InvalidUri", "The requested URI does not represent any resource on the server.", "")
		return
	}
	q := r.URL.Query()
	var perm byte
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		perm = 'r'
	case http.MethodPut:
		perm = 'w'
	default:
		s.writeError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.", "")
		return
	}
	if err := checkSAS(q, s.account, s.key, container, blob, perm, r.TLS != nil, s.now()); err != nil {
		var auth *errAuth
		if errors.As(err, &auth) {
			s.writeError(w, http.StatusForbidden, "AuthenticationFailed",
				"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.", auth.detail)
			return
		}
		s.writeError(w, http.StatusForbidden, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.", "")
		return
	}
	key := container + "/" + blob
	switch comp := q.Get("comp"); {
	case r.Method == http.MethodPut && comp == "":
		s.putBlob(w, r, container, blob, key)
	case r.Method == http.MethodPut && comp == "block":
		s.putBlock(w, r, key)
	case r.Method == http.MethodPut && comp == "blocklist":
		s.putBlockList(w, r, container, blob, key)
	case comp == "":
		s.getBlob(w, r, key)
	default:
		s.writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", fmt.Sprintf("Value for one of the query parameters specified in the request URI is invalid: comp=%s is not supported by this endpoint.", comp), "")
	}
}

// readBounded reads a body of at most limit bytes; tooBig is true beyond.
func readBounded(r *http.Request, limit int64) (data []byte, tooBig bool, err error) {
	if r.ContentLength > limit {
		return nil, true, nil
	}
	data, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > limit {
		return nil, true, nil
	}
	return data, false, nil
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	data, tooBig, err := readBounded(r, limit)
	if tooBig {
		s.writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("The request body is too large and exceeds the maximum permissible limit of %d bytes.", limit), "")
		return nil, false
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "InvalidInput", "The request body could not be read.", "")
		return nil, false
	}
	return data, true
}

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request, container, blob, key string) {
	switch t := r.Header.Get("x-ms-blob-type"); t {
	case "BlockBlob":
	case "":
		s.writeError(w, http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.", "")
		return
	default:
		s.writeError(w, http.StatusBadRequest, "InvalidHeaderValue", fmt.Sprintf("The value for one of the HTTP headers is not in the correct format: x-ms-blob-type %q (only BlockBlob is served).", t), "")
		return
	}
	data, ok := s.readBody(w, r, s.maxSize)
	if !ok {
		return
	}
	ct := r.Header.Get("x-ms-blob-content-type")
	if ct == "" {
		ct = r.Header.Get("Content-Type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.commit(container, blob, key, ct, data, nil)
	if err != nil {
		s.serverError(w, err)
		return
	}
	delete(s.pending, key) // Put Blob discards the uncommitted blocks too
	sum := md5.Sum(data)
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	s.writeCreated(w, m)
}

// commit stores a blob's new content. Called with s.mu.
func (s *Server) commit(container, blob, key, contentType string, data []byte, blocks []committedBlock) (blobMeta, error) {
	now := s.now().UTC()
	old, _, exists, err := s.blobs.get(key)
	if err != nil {
		return blobMeta{}, err
	}
	created := now
	if exists {
		created = old.Created
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	sum := md5.Sum(data)
	m := blobMeta{Container: container, Name: blob, ContentType: contentType, ContentMD5: sum[:], Size: int64(len(data)),
		Created: created, LastModified: now, ETag: fmt.Sprintf(`"0x%X"`, now.UnixNano()), Blocks: blocks}
	if err := s.blobs.put(key, m, data); err != nil {
		return blobMeta{}, err
	}
	return m, nil
}

func (s *Server) putBlock(w http.ResponseWriter, r *http.Request, key string) {
	id := r.URL.Query().Get("blockid")
	raw, err := base64.StdEncoding.DecodeString(id)
	if id == "" || err != nil || len(raw) > 64 {
		s.writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: blockid must be base64 of at most 64 bytes.", "")
		return
	}
	data, ok := s.readBody(w, r, s.maxSize)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	blocks := s.pending[key]
	if blocks == nil {
		if len(s.pending) >= maxPendingBlobs {
			s.writeError(w, http.StatusServiceUnavailable, "ServerBusy", "Too many blobs have uncommitted blocks; commit or abandon some first.", "")
			return
		}
		blocks = map[string][]byte{}
	}
	total := int64(len(data))
	for bid, b := range blocks {
		if bid != id {
			total += int64(len(b))
		}
	}
	if total > s.maxSize {
		s.writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("The blob's uncommitted blocks would exceed %d bytes.", s.maxSize), "")
		return
	}
	blocks[id] = data
	s.pending[key] = blocks
	sum := md5.Sum(data)
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) putBlockList(w http.ResponseWriter, r *http.Request, container, blob, key string) {
	body, ok := s.readBody(w, r, maxBlockListBody)
	if !ok {
		return
	}
	refs, err := parseBlockList(bytes.NewReader(body))
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, oldData, exists, err := s.blobs.get(key)
	if err != nil {
		s.serverError(w, err)
		return
	}
	committed := map[string][]byte{}
	if exists {
		off := int64(0)
		for _, b := range old.Blocks {
			committed[b.ID] = oldData[off : off+b.Size]
			off += b.Size
		}
	}
	uncommitted := s.pending[key]
	var data []byte
	blocks := make([]committedBlock, 0, len(refs))
	for _, ref := range refs {
		var b []byte
		var found bool
		switch ref.source {
		case fromCommitted:
			b, found = committed[ref.id]
		case fromUncommitted:
			b, found = uncommitted[ref.id]
		case fromLatest:
			if b, found = uncommitted[ref.id]; !found {
				b, found = committed[ref.id]
			}
		}
		if !found {
			s.writeError(w, http.StatusBadRequest, "InvalidBlockList", "The specified block list is invalid: block "+ref.id+" is not in the list it was named from.", "")
			return
		}
		if int64(len(data)+len(b)) > s.maxSize {
			s.writeError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", fmt.Sprintf("The committed blob would exceed %d bytes.", s.maxSize), "")
			return
		}
		data = append(data, b...)
		blocks = append(blocks, committedBlock{ID: ref.id, Size: int64(len(b))})
	}
	ct := r.Header.Get("x-ms-blob-content-type")
	m, err := s.commit(container, blob, key, ct, data, blocks)
	if err != nil {
		s.serverError(w, err)
		return
	}
	delete(s.pending, key) // uncommitted blocks not in the list are discarded on commit
	s.writeCreated(w, m)
}

func (s *Server) writeCreated(w http.ResponseWriter, m blobMeta) {
	w.Header().Set("ETag", m.ETag)
	w.Header().Set("Last-Modified", m.LastModified.Format(http.TimeFormat))
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	m, data, ok, err := s.blobs.get(key)
	s.mu.Unlock()
	if err != nil {
		s.serverError(w, err)
		return
	}
	if !ok {
		s.writeError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.", "")
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && im != m.ETag {
		s.writeError(w, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.", "")
		return
	}
	h := w.Header()
	h.Set("ETag", m.ETag)
	h.Set("Last-Modified", m.LastModified.Format(http.TimeFormat))
	h.Set("x-ms-creation-time", m.Created.Format(http.TimeFormat))
	h.Set("x-ms-blob-type", "BlockBlob")
	h.Set("x-ms-lease-state", "available")
	h.Set("x-ms-lease-status", "unlocked")
	h.Set("x-ms-server-encrypted", "true")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", m.ContentType)
	status := http.StatusOK
	rng := r.Header.Get("x-ms-range")
	if rng == "" {
		rng = r.Header.Get("Range")
	}
	body := data
	if rng != "" {
		start, end, ok := parseRange(rng, m.Size)
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", m.Size))
			s.writeError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.", "")
			return
		}
		body = data[start : end+1]
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, m.Size))
		status = http.StatusPartialContent
	}
	if rng == "" || int64(len(body)) == m.Size {
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(m.ContentMD5))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// parseRange reads "bytes=start-" or "bytes=start-end" against a blob of
// size bytes, clamping end to the last byte; ok is false for a range that
// starts past the end (or any other form).
func parseRange(v string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end = size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

// storageError is Azure Storage's error body.
type storageError struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
	Detail  string   `xml:"AuthenticationErrorDetail,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, msg, detail string) {
	msg = fmt.Sprintf("%s\nRequestId:%s\nTime:%s", msg, w.Header().Get("x-ms-request-id"), s.now().UTC().Format("2006-01-02T15:04:05.0000000Z"))
	body, _ := xml.Marshal(storageError{Code: code, Message: msg, Detail: detail})
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(body)
}

func (s *Server) serverError(w http.ResponseWriter, err error) {
	s.log.Error("blob storage", "err", err)
	s.writeError(w, http.StatusInternalServerError, "InternalError", "The server encountered an internal error. Please retry the request.", "")
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
