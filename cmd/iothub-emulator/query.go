package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxQueryPages bounds the paging loop against a server that never stops.
const maxQueryPages = 100000

// queryVerb runs a twin query and prints every row, paging through all of
// them. The query is -q/--query-command or the one positional argument.
func queryVerb(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "query"
	f := newCLIFlags(name, `-q "SELECT * FROM devices WHERE ..."`, "Run a twin query and print every row as a JSON array.", stdout)
	text := f.String("query-command,q", "", "QUERY", "the query, such as \"SELECT * FROM devices WHERE tags.room = '101'\"")
	top := f.Int("top", -1, "N", "print at most N rows (-1: all)")
	pageSize := f.Int("page-size", 100, "N", "rows asked for per page (x-ms-max-item-count)")
	conn := addConnFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && *text == "":
		*text = pos[0]
	case len(pos) > 0:
		return usagef(name, "give the query once, as -q QUERY or as one argument")
	case *text == "":
		return usagef(name, "a query is required: -q \"SELECT * FROM devices\"")
	}
	if err := checkTop(name, *top); err != nil {
		return err
	}
	if *pageSize < 1 {
		return usagef(name, "--page-size must be at least 1")
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	rows, err := c.query(ctx, *text, *top, *pageSize)
	if err != nil {
		return err
	}
	return printJSON(stdout, rows)
}

// checkTop accepts a row limit as Azure CLI does: a positive count, or -1 for all.
func checkTop(command string, top int) error {
	if top == 0 || top < -1 {
		return usagef(command, "--top must be a positive number, or -1 for no limit")
	}
	return nil
}

// query returns the rows of a twin query, at most top of them (-1: all).
func (c *client) query(ctx context.Context, text string, top, pageSize int) ([]json.RawMessage, error) {
	rows := []json.RawMessage{}
	body, err := json.Marshal(map[string]string{"query": text})
	if err != nil {
		return nil, err
	}
	token := ""
	for range maxQueryPages {
		n := pageSize
		if top > 0 {
			n = min(n, top-len(rows))
		}
		headers := map[string]string{"x-ms-max-item-count": strconv.Itoa(n)}
		if token != "" {
			headers["x-ms-continuation"] = token
		}
		data, h, err := c.call(ctx, request{method: http.MethodPost, path: "/devices/query", headers: headers, body: body})
		if err != nil {
			return nil, err
		}
		var page []json.RawMessage
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, fmt.Errorf("the emulator answered the query with something other than a JSON array: %w", err)
		}
		rows = append(rows, page...)
		if top > 0 && len(rows) >= top {
			return rows[:top], nil
		}
		if token = h.Get("x-ms-continuation"); token == "" {
			return rows, nil
		}
	}
	return nil, fmt.Errorf("gave up after %d pages", maxQueryPages)
}
