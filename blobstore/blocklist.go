package blobstore

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Which list a Put Block List entry takes its block from.
type blockSource int

const (
	fromCommitted blockSource = iota
	fromUncommitted
	fromLatest // uncommitted if there is one, else committed
)

type blockRef struct {
	source blockSource
	id     string // the base64 block id as sent
}

// maxBlocks is Azure Storage's limit on a blob's committed blocks.
const maxBlocks = 50000

// parseBlockList reads a Put Block List body:
//
//	<BlockList><Committed>id</Committed><Uncommitted>id</Uncommitted><Latest>id</Latest></BlockList>
//
// keeping the entries in order. Ids must be base64.
func parseBlockList(r io.Reader) ([]blockRef, error) {
	d := xml.NewDecoder(r)
	var refs []blockRef
	depth := 0
	sawRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("block list: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "BlockList" || sawRoot {
					return nil, fmt.Errorf("block list: unexpected element <%s>", t.Name.Local)
				}
				sawRoot = true
			case 2:
				var src blockSource
				switch t.Name.Local {
				case "Committed":
					src = fromCommitted
				case "Uncommitted":
					src = fromUncommitted
				case "Latest":
					src = fromLatest
				default:
					return nil, fmt.Errorf("block list: unexpected element <%s>", t.Name.Local)
				}
				var id string
				if err := d.DecodeElement(&id, &t); err != nil {
					return nil, fmt.Errorf("block list: %w", err)
				}
				depth--
				if _, err := base64.StdEncoding.DecodeString(id); err != nil || id == "" {
					return nil, fmt.Errorf("block list: block id %q is not base64", id)
				}
				if len(refs) == maxBlocks {
					return nil, fmt.Errorf("block list: more than %d blocks", maxBlocks)
				}
				refs = append(refs, blockRef{source: src, id: id})
			default:
				return nil, fmt.Errorf("block list: unexpected element <%s>", t.Name.Local)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(xmlTrim(t)) > 0 {
				return nil, errors.New("block list: text outside <BlockList>")
			}
		}
	}
	if !sawRoot {
		return nil, errors.New("block list: no <BlockList> element")
	}
	return refs, nil
}

func xmlTrim(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\r' || b[j-1] == '\n') {
		j--
	}
	return b[i:j]
}
