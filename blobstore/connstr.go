package blobstore

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// Azurite's well-known development account, which UseDevelopmentStorage=true names.
const (
	DevAccount  = "devstoreaccount1"
	DevKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
)

// Account is a storage account a connection string names: where its blob
// endpoint is and the key its SAS tokens are signed with.
type Account struct {
	Name string
	Key  string // base64
	// BlobEndpoint is the blob service's URL, e.g.
	// https://{name}.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1.
	BlobEndpoint *url.URL
}

// ParseConnectionString reads an Azure Storage connection string:
// UseDevelopmentStorage=true, or AccountName and AccountKey with a
// BlobEndpoint or DefaultEndpointsProtocol (and EndpointSuffix).
func ParseConnectionString(cs string) (Account, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Account{}, fmt.Errorf("blobstore: connection string part %q is not key=value", part)
		}
		kv[strings.ToLower(k)] = v
	}
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		u, _ := url.Parse(devEndpoint)
		return Account{Name: DevAccount, Key: DevKey, BlobEndpoint: u}, nil
	}
	a := Account{Name: kv["accountname"], Key: kv["accountkey"]}
	if a.Name == "" || a.Key == "" {
		return Account{}, fmt.Errorf("blobstore: connection string needs AccountName and AccountKey (or UseDevelopmentStorage=true)")
	}
	if _, err := base64.StdEncoding.DecodeString(a.Key); err != nil {
		return Account{}, fmt.Errorf("blobstore: AccountKey is not base64: %w", err)
	}
	ep := kv["blobendpoint"]
	if ep == "" {
		proto, suffix := kv["defaultendpointsprotocol"], kv["endpointsuffix"]
		if proto == "" {
			proto = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		ep = proto + "://" + a.Name + ".blob." + suffix
	}
	u, err := url.Parse(strings.TrimSuffix(ep, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Account{}, fmt.Errorf("blobstore: BlobEndpoint %q is not an http(s) URL", ep)
	}
	a.BlobEndpoint = u
	return a, nil
}

// HostName is what IoT Hub's file upload answer calls hostName: the blob
// endpoint without its scheme, so that the device's
// https://{hostName}/{container}/{blob} reaches it (path included, for a
// path-style endpoint such as Azurite's).
func (a Account) HostName() string {
	return a.BlobEndpoint.Host + a.BlobEndpoint.Path
}
