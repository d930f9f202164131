package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// blobMeta is what is kept of a committed blob beside its bytes.
type blobMeta struct {
	Container    string           `json:"container"`
	Name         string           `json:"name"`
	ContentType  string           `json:"contentType"`
	ContentMD5   []byte           `json:"contentMD5,omitempty"`
	Size         int64            `json:"size"`
	Created      time.Time        `json:"created"`
	LastModified time.Time        `json:"lastModified"`
	ETag         string           `json:"etag"`
	Blocks       []committedBlock `json:"blocks,omitempty"` // empty after Put Blob
}

// committedBlock is one block of a blob committed by Put Block List, in
// order; its bytes are the blob's from the sum of the sizes before it.
type committedBlock struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// backend keeps committed blobs by key (container + "/" + name).
type backend interface {
	get(key string) (blobMeta, []byte, bool, error)
	meta(key string) (blobMeta, bool, error) // get without the bytes
	put(key string, m blobMeta, data []byte) error
}

// memBackend keeps blobs in memory, for --in-memory.
type memBackend struct {
	blobs map[string]memBlob
}

type memBlob struct {
	meta blobMeta
	data []byte
}

func (b *memBackend) get(key string) (blobMeta, []byte, bool, error) {
	e, ok := b.blobs[key]
	return e.meta, e.data, ok, nil
}

func (b *memBackend) meta(key string) (blobMeta, bool, error) {
	e, ok := b.blobs[key]
	return e.meta, ok, nil
}

func (b *memBackend) put(key string, m blobMeta, data []byte) error {
	b.blobs[key] = memBlob{meta: m, data: data}
	return nil
}

// dirBackend keeps each blob as two files under dir, named by a hash of
// its key so that no blob name can reach outside dir: {hash}.data holds
// the bytes, {hash}.json the metadata, written after the bytes so a blob
// whose metadata is readable is whole.
type dirBackend struct {
	dir string
}

func (b *dirBackend) paths(key string) (data, meta string) {
	h := sha256.Sum256([]byte(key))
	base := filepath.Join(b.dir, hex.EncodeToString(h[:]))
	return base + ".data", base + ".json"
}

func (b *dirBackend) meta(key string) (blobMeta, bool, error) {
	_, metaPath := b.paths(key)
	raw, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return blobMeta{}, false, nil
	}
	if err != nil {
		return blobMeta{}, false, fmt.Errorf("blobstore: read metadata: %w", err)
	}
	var m blobMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return blobMeta{}, false, fmt.Errorf("blobstore: decode metadata of %s: %w", metaPath, err)
	}
	return m, true, nil
}

func (b *dirBackend) get(key string) (blobMeta, []byte, bool, error) {
	dataPath, _ := b.paths(key)
	m, ok, err := b.meta(key)
	if err != nil || !ok {
		return blobMeta{}, nil, false, err
	}
	data, err := os.ReadFile(dataPath)
	if err != nil {
		return blobMeta{}, nil, false, fmt.Errorf("blobstore: read blob: %w", err)
	}
	if int64(len(data)) != m.Size {
		return blobMeta{}, nil, false, fmt.Errorf("blobstore: blob %s has %d bytes, its metadata says %d", dataPath, len(data), m.Size)
	}
	return m, data, true, nil
}

func (b *dirBackend) put(key string, m blobMeta, data []byte) error {
	dataPath, metaPath := b.paths(key)
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("blobstore: encode metadata: %w", err)
	}
	// The old metadata goes first, so a crash between the two writes
	// leaves no blob rather than new bytes under old metadata.
	if err := os.Remove(metaPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blobstore: replace blob: %w", err)
	}
	if err := writeFileAtomic(dataPath, data); err != nil {
		return err
	}
	return writeFileAtomic(metaPath, raw)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("blobstore: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("blobstore: write %s: %w", path, err)
	}
	return nil
}
