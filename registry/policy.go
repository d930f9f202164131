package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Permission is a shared access policy right.
type Permission uint8

// The hub's permissions.
const (
	RegistryRead Permission = 1 << iota
	RegistryWrite
	ServiceConnect
	DeviceConnect
)

func (p Permission) String() string {
	var names []string
	for _, x := range []struct {
		p    Permission
		name string
	}{{RegistryRead, "RegistryRead"}, {RegistryWrite, "RegistryWrite"}, {ServiceConnect, "ServiceConnect"}, {DeviceConnect, "DeviceConnect"}} {
		if p&x.p != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ", ")
}

// Policy is a shared access policy.
type Policy struct {
	Name         string
	PrimaryKey   string
	SecondaryKey string
	Rights       Permission
}

// Policies is the hub's set of shared access policies.
type Policies []Policy

// WellKnownPolicies are the built-in policies of every IoT Hub, with fixed
// keys documented in the README so one connection string works on every
// machine. Anyone exposing the emulator beyond loopback replaces them.
func WellKnownPolicies() Policies {
	return Policies{
		{"iothubowner", "NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=", "y/Zj70f+7jet605lDwhNIGB8soZa0ePIGld/jEjtp9s=", RegistryRead | RegistryWrite | ServiceConnect | DeviceConnect},
		{"service", "t1wDFCNnjY6McREjNM1rgb5ojUtj0WxOQHsTk6mD9nU=", "xFfJj1X1anst/09nrw/3EoQ9OI9ryn/Jn89sF4JqDPk=", ServiceConnect},
		{"device", "CEDBS6c9Sg9quE/4j7dquRtmtGjqdUO3haXGTvU91xo=", "iNZjvIxtnSQmZXAI/a+WHV9ilhbsJDIc38xephsb9Vw=", DeviceConnect},
		{"registryRead", "klIgYxnFi82us4dtfBmz53ersMva4LQG6pCvH+BOYd8=", "iPl20rbTDJBddmOQ6yYeO/CiITzZxlC8D8PVL7d39dI=", RegistryRead},
		{"registryReadWrite", "l8w6Hfigs1aKVrdyr++ApOy5f7gzr3xqTty7Sqj9miI=", "ZWI4es5UUkHnGLf2WV6ufivvQoNM8qb5K89dpNKGj8Q=", RegistryRead | RegistryWrite},
	}
}

// Find returns the policy named name.
func (ps Policies) Find(name string) (Policy, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// WithKeys returns ps with the primary keys replaced per "name=key" pairs;
// the secondary key of a replaced policy is set to the same key so the
// well-known secondary no longer works.
func (ps Policies) WithKeys(pairs map[string]string) (Policies, error) {
	out := append(Policies{}, ps...)
	for name, key := range pairs {
		i := -1
		for j := range out {
			if out[j].Name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("no built-in policy named %q", name)
		}
		if _, err := decodeKey(key); err != nil {
			return nil, fmt.Errorf("key for policy %q: %w", name, err)
		}
		out[i].PrimaryKey, out[i].SecondaryKey = key, key
	}
	return out, nil
}

// RandomKeys returns ps with fresh random keys for every policy.
func (ps Policies) RandomKeys() Policies {
	out := append(Policies{}, ps...)
	for i := range out {
		out[i].PrimaryKey, out[i].SecondaryKey = NewKey(), NewKey()
	}
	return out
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
