package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/iothub-emulator/iothub-emulator/blobstore"
)

// The import/export verbs follow az iot hub device-identity export and
// import; storage sas mints container URIs of the built-in blob endpoint,
// and edge set-modules applies a deployment to one IoT Edge device.

// maxWait bounds --wait.
const maxWait = 10 * time.Minute

// builtInContainer is a SAS URI of a container of the running emulator's
// built-in blob endpoint, on the host and port the CLI reaches it at.
func (c *client) builtInContainer(name, perms string, valid time.Duration) (string, error) {
	q, err := blobstore.SignContainerSAS(blobstore.BuiltInAccount, blobstore.BuiltInKey, name,
		blobstore.SAS{Permissions: perms, Expiry: time.Now().Add(valid)})
	if err != nil {
		return "", err
	}
	u := *c.endpoint
	u.Path, u.RawQuery = "/"+blobstore.BuiltInAccount+"/"+url.PathEscape(name), q
	return u.String(), nil
}

// containerArg is --blob-container-uri, or a built-in container by --container.
func containerArg(c *client, command, uriFlag, uri, container string) (string, error) {
	switch {
	case uri != "" && container != "":
		return "", usagef(command, "give %s or --container, not both", uriFlag)
	case uri != "":
		return uri, nil
	case container != "":
		return c.builtInContainer(container, "rwl", 24*time.Hour)
	}
	return "", usagef(command, "%s (a container SAS URI) or --container (a container of the built-in blob endpoint) is required", uriFlag)
}

// runImportExport creates a job and, with wait, polls it until it ends.
func runImportExport(ctx context.Context, c *client, body map[string]any, wait bool, stdout io.Writer) error {
	raw, err := c.callJSON(ctx, http.MethodPost, "/jobs/create", body, nil)
	if err != nil {
		return err
	}
	if !wait {
		return printRaw(stdout, raw)
	}
	var job struct {
		JobID, Status string
	}
	if err := json.Unmarshal(raw, &job); err != nil {
		return fmt.Errorf("the emulator answered with invalid JSON: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	for {
		switch job.Status {
		case "completed", "failed", "cancelled":
			return printRaw(stdout, raw)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s is still %s: %w", job.JobID, job.Status, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if raw, err = c.callJSON(ctx, http.MethodGet, "/jobs/"+url.PathEscape(job.JobID), nil, nil); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &job); err != nil {
			return fmt.Errorf("the emulator answered with invalid JSON: %w", err)
		}
	}
}

func identityExport(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "device-identity export"
	f := newCLIFlags(name, "--blob-container-uri URI | --container NAME [--include-keys] [--wait]",
		"Export every device and module identity with its twin to devices.txt in a blob container (an import/export job).", stdout)
	uri := f.String("blob-container-uri,bcu", "", "URI", "the output container's SAS URI (write permission)")
	container := f.String("container", "", "NAME", "a container of the emulator's built-in blob endpoint instead")
	keys := f.Bool("include-keys,ik", "export the symmetric keys (otherwise they are exported as null)")
	configs := f.Bool("include-configurations", "also export the configurations, to configurations.txt")
	wait := f.Bool("wait", "wait for the job to end and print it then")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	out, err := containerArg(c, name, "--blob-container-uri", *uri, *container)
	if err != nil {
		return err
	}
	body := map[string]any{"type": "export", "outputBlobContainerUri": out, "excludeKeysInExport": !*keys,
		"includeConfigurations": *configs}
	return runImportExport(ctx, c, body, *wait, stdout)
}

func identityImport(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "device-identity import"
	f := newCLIFlags(name, "--input-blob-container-uri URI --output-blob-container-uri URI | --container NAME [--wait]",
		"Create, update or delete identities from devices.txt in a blob container (an import/export job); failures go to importErrors.log in the output container.", stdout)
	in := f.String("input-blob-container-uri,ibcu", "", "URI", "the input container's SAS URI (read permission)")
	out := f.String("output-blob-container-uri,obcu", "", "URI", "the output container's SAS URI (write permission)")
	container := f.String("container", "", "NAME", "a container of the emulator's built-in blob endpoint, for both")
	configs := f.Bool("include-configurations", "also import the configurations in configurations.txt")
	wait := f.Bool("wait", "wait for the job to end and print it then")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	if *container != "" && (*in != "" || *out != "") {
		return usagef(name, "give the container URIs or --container, not both")
	}
	input, output := *in, *out
	if *container != "" {
		if input, err = c.builtInContainer(*container, "rwl", 24*time.Hour); err != nil {
			return err
		}
		output = input
	}
	if input == "" || output == "" {
		return usagef(name, "--input-blob-container-uri and --output-blob-container-uri (or --container) are required")
	}
	body := map[string]any{"type": "import", "inputBlobContainerUri": input, "outputBlobContainerUri": output,
		"includeConfigurations": *configs}
	return runImportExport(ctx, c, body, *wait, stdout)
}

func storageSAS(_ context.Context, args []string, stdout, _ io.Writer) error {
	const name = "storage sas"
	f := newCLIFlags(name, "--container NAME [--permissions rwl] [--hours N]",
		"Print a SAS URI of a container of the emulator's built-in blob endpoint (offline: it is signed with the endpoint's well-known key).", stdout)
	container := f.RequiredString("container", "NAME", "the container (3 to 63 lowercase letters, digits and -)")
	perms := f.String("permissions", "rwl", "PERMS", "what the SAS grants, of racwdl")
	hours := f.Int("hours", 24, "N", "how long the SAS is valid")
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	if *hours <= 0 {
		return usagef(name, "--hours must be positive")
	}
	uri, err := c.builtInContainer(*container, *perms, time.Duration(*hours)*time.Hour)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, uri)
	return err
}

func edgeSetModules(ctx context.Context, args []string, stdout, _ io.Writer) error {
	const name = "edge set-modules"
	f := newCLIFlags(name, "--device-id ID --content JSON",
		"Apply an IoT Edge deployment's modulesContent to one IoT Edge device's module twins.", stdout)
	id := f.RequiredString("device-id,d", "ID", "the IoT Edge device")
	content := f.RequiredString("content,k", "JSON", `the deployment, {"modulesContent":{"$edgeAgent":{...},...}}, as JSON or a file holding it`)
	conn := addConnFlags(f)
	c, err := parseNoArgs(f, conn, args)
	if err != nil {
		return err
	}
	raw, err := jsonArg(name, "--content", *content, true)
	if err != nil {
		return err
	}
	if _, err := c.callJSON(ctx, http.MethodPost, "/devices/"+url.PathEscape(*id)+"/applyConfigurationContent", unwrap(raw, "content"), nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "applied the deployment to %s\n", *id)
	return err
}
