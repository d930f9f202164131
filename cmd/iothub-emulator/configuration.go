package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The configuration verbs follow az iot hub configuration: create, show,
// list, delete (automatic device management).

func configurationPath(id string) string { return "/configurations/" + url.PathEscape(id) }

// unwrap returns the object under key when raw is {key: {...}} alone, else
// raw: az accepts both {"deviceContent":...} and {"content":{...}}.
func unwrap(raw json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil && len(m) == 1 && m[key] != nil {
		return m[key]
	}
	return raw
}

func configurationCreate(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "configuration create"
	f := newCLIFlags(name, "--config-id ID --content JSON [--target-condition CONDITION] [--priority N] [--labels JSON] [--metrics JSON]",
		"Create an automatic device management configuration.", stdout)
	id := f.RequiredString("config-id,c", "ID", "the configuration's id (lowercase)")
	content := f.RequiredString("content,k", "JSON", `the content, {"deviceContent":{"properties.desired.x":...}}, as JSON or a file holding it`)
	cond := f.String("target-condition,tc", "", "CONDITION", "the device twins to target: a WHERE clause, e.g. \"tags.site = 'a'\", or * for all")
	priority := f.Int("priority,pri", 0, "N", "the priority; the highest among the configurations targeting a twin wins")
	labels := f.String("labels,lab", "", "JSON", "labels, a JSON object of strings")
	metrics := f.String("metrics,m", "", "JSON", `custom metrics, {"queries":{"name":"SELECT deviceId FROM devices WHERE ..."}}, as JSON or a file`)
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	if *priority < 0 {
		return usagef(name, "--priority must not be negative")
	}
	body := map[string]any{"id": *id, "schemaVersion": "1.0", "targetCondition": *cond, "priority": *priority}
	raw, err := jsonArg(name, "--content", *content, true)
	if err != nil {
		return err
	}
	body["content"] = unwrap(raw, "content")
	if *labels != "" {
		l, err := jsonArg(name, "--labels", *labels, true)
		if err != nil {
			return err
		}
		body["labels"] = l
	}
	if *metrics != "" {
		m, err := jsonArg(name, "--metrics", *metrics, true)
		if err != nil {
			return err
		}
		body["metrics"] = unwrap(m, "metrics")
	}
	out, err := c.callJSON(ctx, http.MethodPut, configurationPath(*id), body, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}

func configurationShow(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newCLIFlags("configuration show", "--config-id ID", "Show a configuration, with its metrics.", stdout)
	id := f.RequiredString("config-id,c", "ID", "the configuration's id")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	out, err := c.callJSON(ctx, http.MethodGet, configurationPath(*id), nil, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}

func configurationList(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "configuration list"
	f := newCLIFlags(name, "[--top N]", "List configurations, oldest first.", stdout)
	top := f.Int("top", 0, "N", "at most this many (default: all)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	if *top < 0 {
		return usagef(name, "--top must not be negative")
	}
	q := url.Values{}
	if *top > 0 {
		q.Set("top", strconv.Itoa(*top))
	}
	out, _, err := c.call(ctx, request{method: http.MethodGet, path: "/configurations", query: q})
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}

func configurationDelete(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newCLIFlags("configuration delete", "--config-id ID [--etag ETAG]", "Delete a configuration; what it wrote into twins stays.", stdout)
	id := f.RequiredString("config-id,c", "ID", "the configuration's id")
	etag := f.String("etag,e", "", "ETAG", "delete only if the configuration's etag is this one (default: unconditionally)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	_, err = c.callJSON(ctx, http.MethodDelete, configurationPath(*id), nil, ifMatch(*etag))
	return err
}
