package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Seed documents can be large (every device with its twin); give the
// emulator time and room for them.
const (
	seedTimeout  = 2 * time.Minute
	maxSeedInput = 64 << 20
)

// seedFormat is the format a file's extension names, "" if none.
func seedFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	}
	return ""
}

// exportVerb writes the hub's devices, modules and twins as a seed document.
func exportVerb(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "export"
	f := newCLIFlags(name, "[--file FILE] [--format yaml|json]",
		"Write the hub's devices, modules, keys, tags and properties as a seed document, to stdout or a file.\n"+
			"Give it to 'iothub-emulator import' or 'iothub-emulator --seed' to recreate the hub.", stdout)
	file := f.String("file,f", "", "FILE", "write to this file instead of stdout")
	format := f.String("format", "", "FORMAT", "yaml or json (default: the file's extension, else yaml)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	fmtName := *format
	if fmtName == "" {
		fmtName = seedFormat(*file)
	}
	if fmtName == "" {
		fmtName = "yaml"
	}
	if fmtName, err = oneOf(name, "--format", fmtName, "yaml", "json"); err != nil {
		return err
	}
	doc, _, err := c.call(ctx, request{method: http.MethodGet, path: "/emulator/export",
		query: url.Values{"format": {fmtName}}, timeout: seedTimeout})
	if err != nil {
		return err
	}
	if *file == "" {
		_, err = stdout.Write(doc)
		return err
	}
	return writeFileAtomic(*file, doc)
}

// writeFileAtomic replaces path with data, or leaves it as it was.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil { // the document holds device keys
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// importVerb applies a seed document to the hub and prints the result.
func importVerb(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "import"
	f := newCLIFlags(name, "--file FILE",
		"Apply a seed document (YAML or JSON) to the hub: create what is missing, update what differs, leave other devices alone.", stdout)
	file := f.RequiredString("file,f", "FILE", "the seed document: .yaml, .yml or .json (any other name: told from the content)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	st, err := os.Stat(*file)
	if err != nil {
		return usagef(name, "--file: %v", err)
	}
	if st.Size() > maxSeedInput {
		return usagef(name, "--file: %s is larger than %d bytes", *file, maxSeedInput)
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return usagef(name, "--file: %v", err)
	}
	// The extension names the format; without one the emulator tells it from the content.
	ct := "application/octet-stream"
	switch seedFormat(*file) {
	case "json":
		ct = "application/json"
	case "yaml":
		ct = "application/yaml"
	}
	raw, _, err := c.call(ctx, request{method: http.MethodPost, path: "/emulator/import", body: doc, contentType: ct, timeout: seedTimeout})
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}
