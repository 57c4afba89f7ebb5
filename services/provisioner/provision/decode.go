package provision

import (
	"errors"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeMap decodes m, a free-form part of resources.yml, into the typed
// out. runtimeconfig keeps these parts as maps because their shape belongs
// to CloudFormation, not to the config contract; going through YAML again
// gives the same conversions (int to int32, scalar to string) as decoding
// the file did.
func decodeMap(m map[string]any, out any) error {
	data, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	err = yaml.Unmarshal(data, out)
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		// Line numbers would point into the re-encoded map, not into
		// resources.yml; drop them rather than mislead.
		msgs := make([]string, len(typeErr.Errors))
		for i, e := range typeErr.Errors {
			if rest, ok := strings.CutPrefix(e, "line "); ok {
				if _, msg, ok := strings.Cut(rest, ": "); ok {
					e = msg
				}
			}
			msgs[i] = e
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return err
}
