package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxQueryPages bounds the paging loop against a server that never stops.
const maxQueryPages = 100000

// queryVerb runs a twin query and prints every row, paging through all of them.
func queryVerb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint, hubCS, caFile := clientFlags(fs)
	pageSize := fs.Int("page-size", 100, "rows asked for per page (x-ms-max-item-count)")
	text, rest := "", args
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		text, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return errUsage
	}
	if text == "" && fs.NArg() == 1 {
		text = fs.Arg(0)
	} else if fs.NArg() > 0 || text == "" {
		fmt.Fprintln(stderr, `usage: iothub-emulator query "SELECT * FROM devices WHERE ..." [flags]`)
		return errUsage
	}
	c, err := newClient(*endpoint, *hubCS, *caFile)
	if err != nil {
		return err
	}
	rows := []json.RawMessage{}
	token := ""
	for range maxQueryPages {
		headers := map[string]string{"x-ms-max-item-count": strconv.Itoa(*pageSize)}
		if token != "" {
			headers["x-ms-continuation"] = token
		}
		var page []json.RawMessage
		h, err := c.doHeaders(ctx, http.MethodPost, "/devices/query", headers, map[string]string{"query": text}, &page)
		if err != nil {
			return err
		}
		rows = append(rows, page...)
		if token = h.Get("x-ms-continuation"); token == "" {
			return printJSON(stdout, rows)
		}
	}
	return fmt.Errorf("gave up after %d pages", maxQueryPages)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
