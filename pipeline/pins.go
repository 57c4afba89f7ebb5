package pipeline

import (
	"strings"
)

// PinFrom rewrites the FROM lines of a Dockerfile whose image pins names
// (as written, e.g. debian:trixie-slim) to the pinned ref (the same image
// at the digest checked in the env's registry), so the build resolves the
// base by digest and cannot get another image under the same tag. Other
// lines, stage references and images pins does not name stay as they are.
func PinFrom(dockerfile string, pins map[string]string) string {
	if len(pins) == 0 {
		return dockerfile
	}
	lines := strings.Split(dockerfile, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		for j := 1; j < len(f); j++ {
			if strings.HasPrefix(f[j], "--") {
				continue
			}
			if pinned, ok := pins[f[j]]; ok {
				f[j] = pinned
				lines[i] = strings.Join(f, " ")
			}
			break
		}
	}
	return strings.Join(lines, "\n")
}
