package importexport

import (
	"errors"
	"testing"

	"github.com/iothub-emulator/iothub-emulator/errcode"
)

// FuzzParseRequest: any /jobs/create body is refused with a catalogue
// error or gives a job of a known type with the containers it needs.
func FuzzParseRequest(f *testing.F) {
	f.Add(`{"type":"export","outputBlobContainerUri":"https://localhost/iothubemulator/c?sv=1&sig=x","excludeKeysInExport":true}`)
	f.Add(`{"type":"IMPORT","inputBlobContainerUri":"https://a/b/c","outputBlobContainerUri":"http://a/b/c","inputBlobName":"x.txt","includeConfigurations":true}`)
	f.Add(`{"type":"export","outputBlobContainerUri":"https://h/","storageAuthenticationType":"identityBased"}`)
	f.Add(`{"type":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		j, err := parseRequest([]byte(body))
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a catalogue error", err)
			}
			return
		}
		switch j.Type {
		case TypeExport:
			if j.OutputBlobContainerURI == "" || j.OutputBlobName == "" {
				t.Fatalf("export without output: %+v", j)
			}
		case TypeImport:
			if j.InputBlobContainerURI == "" || j.OutputBlobContainerURI == "" || j.InputBlobName == "" {
				t.Fatalf("import without containers: %+v", j)
			}
		default:
			t.Fatalf("accepted type %q", j.Type)
		}
		if j.IncludeConfigurations && j.ConfigurationsBlobName == "" {
			t.Fatalf("configurations without a blob name: %+v", j)
		}
	})
}
