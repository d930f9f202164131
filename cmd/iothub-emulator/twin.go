package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// twinTarget adds -d (and -m for a module twin) and returns a function
// giving the twin's path once the flags are parsed.
func twinTarget(f *cliFlags, n noun) func() string {
	deviceID, moduleID := n.ids(f, "the device", "the module")
	return func() string { return devicePath("/twins", *deviceID, *moduleID) }
}

func twinShow(n noun) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		f := newCLIFlags(n.command("twin", "show"), n.synopsis(""), "Show a twin.", stdout)
		path := twinTarget(f, n)
		conn := addConnFlags(f)
		c, err := parseNoArgs(f, conn, args)
		if err != nil {
			return err
		}
		raw, err := c.callJSON(ctx, http.MethodGet, path(), nil, nil)
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}

// twinUpdate merges --desired and --tags into a twin (a PATCH).
func twinUpdate(n noun) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := n.command("twin", "update")
		f := newCLIFlags(name, n.synopsis("[--desired JSON] [--tags JSON]"),
			"Merge desired properties and tags into a twin: objects merge, null deletes a property.", stdout)
		path := twinTarget(f, n)
		desired := f.String("desired", "", "JSON", "desired properties to merge, as JSON or a file holding it")
		tags := f.String("tags", "", "JSON", "tags to merge, as JSON or a file holding it")
		etag := f.String("etag,e", "", "ETAG", "update only if the twin's etag is this one (default: unconditionally)")
		conn := addConnFlags(f)
		c, err := parseNoArgs(f, conn, args)
		if err != nil {
			return err
		}
		patch := map[string]any{}
		if *desired != "" {
			d, err := jsonArg(name, "--desired", *desired, true)
			if err != nil {
				return err
			}
			patch["properties"] = map[string]json.RawMessage{"desired": d}
		}
		if *tags != "" {
			t, err := jsonArg(name, "--tags", *tags, true)
			if err != nil {
				return err
			}
			patch["tags"] = t
		}
		if len(patch) == 0 {
			return usagef(name, "give --desired, --tags or both")
		}
		raw, err := c.callJSON(ctx, http.MethodPatch, path(), patch, ifMatch(*etag))
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}

// twinReplace replaces a twin's desired properties and tags (a PUT).
func twinReplace(n noun) verb {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		name := n.command("twin", "replace")
		f := newCLIFlags(name, n.synopsis("-j JSON"),
			"Replace a twin's desired properties and tags with those of a twin document.", stdout)
		path := twinTarget(f, n)
		doc := f.RequiredString("json,j", "JSON", "the twin document ({\"tags\":{...},\"properties\":{\"desired\":{...}}}), as JSON or a file holding it")
		etag := f.String("etag,e", "", "ETAG", "replace only if the twin's etag is this one (default: unconditionally)")
		conn := addConnFlags(f)
		c, err := parseNoArgs(f, conn, args)
		if err != nil {
			return err
		}
		body, err := jsonArg(name, "--json", *doc, true)
		if err != nil {
			return err
		}
		raw, _, err := c.call(ctx, request{method: http.MethodPut, path: path(), body: body, headers: ifMatch(*etag)})
		if err != nil {
			return err
		}
		return printRaw(stdout, raw)
	}
}
