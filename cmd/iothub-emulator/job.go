package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The job verbs follow az iot hub job: create, show, list, cancel (jobs v2).

func jobPath(id string) string { return "/jobs/v2/" + url.PathEscape(id) }

// jobCreate schedules a twin update or a direct method over a query condition.
func jobCreate(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "job create"
	f := newCLIFlags(name, "--job-id ID --job-type TYPE -q CONDITION [--twin-patch JSON | --method-name NAME ...]",
		"Schedule a twin update or a direct method on every device a query condition selects.", stdout)
	id := f.RequiredString("job-id,j", "ID", "the job's id")
	jobType := f.RequiredString("job-type,jt", "TYPE", "scheduleUpdateTwin or scheduleDeviceMethod")
	cond := f.RequiredString("query-condition,q", "CONDITION", "the devices to reach: a WHERE clause over device twins, e.g. \"tags.site = 'a'\"")
	patch := f.String("twin-patch,twin", "", "JSON", "scheduleUpdateTwin: the twin patch (tags, properties.desired), as JSON or a file holding it")
	method := f.String("method-name,mn", "", "NAME", "scheduleDeviceMethod: the method")
	payload := f.String("method-payload,mp", "{}", "JSON", "scheduleDeviceMethod: the method's payload, as JSON or a file holding it")
	timeout := f.Int("method-response-timeout,mrt", 30, "SECONDS", "scheduleDeviceMethod: how long each device has to answer (5 to 300)")
	connect := f.Int("method-connect-timeout,mct", 30, "SECONDS", "scheduleDeviceMethod: how long to wait for each device to come online (0 to 300)")
	start := f.String("start-time,start", "", "TIME", "when the job starts, ISO-8601 (default: now)")
	ttl := f.Int64("ttl", 3600, "SECONDS", "the job's maximum execution time")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	t, err := oneOf(name, "--job-type", *jobType, "scheduleUpdateTwin", "scheduleDeviceMethod")
	if err != nil {
		return err
	}
	body := map[string]any{"jobId": *id, "type": t, "queryCondition": *cond, "maxExecutionTimeInSeconds": *ttl}
	if *start != "" {
		st, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return usagef(name, "--start-time must be an ISO-8601 date and time, not %q", *start)
		}
		body["startTime"] = st.UTC().Format(time.RFC3339Nano)
	}
	switch t {
	case "scheduleUpdateTwin":
		if *patch == "" {
			return usagef(name, "a scheduleUpdateTwin job needs --twin-patch")
		}
		p, err := jsonArg(name, "--twin-patch", *patch, true)
		if err != nil {
			return err
		}
		body["updateTwin"] = p
	default:
		if *method == "" {
			return usagef(name, "a scheduleDeviceMethod job needs --method-name")
		}
		if *timeout < minMethodTimeout || *timeout > maxMethodTimeout {
			return usagef(name, "--method-response-timeout must be from %d to %d seconds", minMethodTimeout, maxMethodTimeout)
		}
		if *connect < 0 || *connect > maxMethodConnectTimeout {
			return usagef(name, "--method-connect-timeout must be from 0 to %d seconds", maxMethodConnectTimeout)
		}
		p, err := jsonArg(name, "--method-payload", *payload, false)
		if err != nil {
			return err
		}
		body["cloudToDeviceMethod"] = map[string]any{"methodName": *method, "payload": p,
			"responseTimeoutInSeconds": *timeout, "connectTimeoutInSeconds": *connect}
	}
	raw, err := c.callJSON(ctx, http.MethodPut, jobPath(*id), body, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

func jobShow(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newCLIFlags("job show", "--job-id ID", "Show a job, with its device statistics.", stdout)
	id := f.RequiredString("job-id,j", "ID", "the job's id")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	raw, err := c.callJSON(ctx, http.MethodGet, jobPath(*id), nil, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

func jobCancel(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newCLIFlags("job cancel", "--job-id ID", "Cancel a job that has not finished.", stdout)
	id := f.RequiredString("job-id,j", "ID", "the job's id")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	raw, err := c.callJSON(ctx, http.MethodPost, jobPath(*id)+"/cancel", nil, nil)
	if err != nil {
		return err
	}
	return printRaw(stdout, raw)
}

// jobList prints every job of a type and status, following continuations.
func jobList(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "job list"
	f := newCLIFlags(name, "[--job-type TYPE] [--job-status STATUS]", "List jobs, oldest first.", stdout)
	jobType := f.String("job-type,jt", "", "TYPE", "only jobs of this type (scheduleUpdateTwin or scheduleDeviceMethod)")
	status := f.String("job-status,js", "", "STATUS", "only jobs in this status (queued, scheduled, running, completed, failed, cancelled)")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *jobType != "" {
		t, err := oneOf(name, "--job-type", *jobType, "scheduleUpdateTwin", "scheduleDeviceMethod")
		if err != nil {
			return err
		}
		q.Set("jobType", t)
	}
	if *status != "" {
		s, err := oneOf(name, "--job-status", *status, "queued", "scheduled", "running", "completed", "failed", "cancelled")
		if err != nil {
			return err
		}
		q.Set("jobStatus", s)
	}
	all := []json.RawMessage{}
	token := ""
	for {
		headers := map[string]string{}
		if token != "" {
			headers["x-ms-continuation"] = token
		}
		raw, h, err := c.call(ctx, request{method: http.MethodGet, path: "/jobs/v2/query", query: q, headers: headers})
		if err != nil {
			return err
		}
		var page []json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		all = append(all, page...)
		if token = h.Get("x-ms-continuation"); token == "" {
			break
		}
	}
	out, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return printRaw(stdout, out)
}
