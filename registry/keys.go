package registry

import (
	"encoding/base64"
	"errors"
)

func decodeKey(key string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(raw) < 16 || len(raw) > 64 {
		return nil, errors.New("must decode to 16 to 64 bytes")
	}
	return raw, nil
}
