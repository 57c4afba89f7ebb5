package deploy

import (
	"fmt"
	"strings"

	"github.com/esb-dev/esb/internal/sam"
)

// Lambda's architecture names, as SAM's Architectures property spells them.
const (
	ArchX86 = "x86_64"
	ArchARM = "arm64"
)

// LambdaArch maps an architecture as Docker (uname -m) or Go name it onto
// Lambda's name; anything else comes back as it is.
func LambdaArch(arch string) string {
	switch arch {
	case "x86_64", "amd64":
		return ArchX86
	case "aarch64", "arm64":
		return ArchARM
	}
	return arch
}

// CheckArchitectures compares each function's Architectures with the
// architecture of the host that will run it. A function built for another
// architecture than the host's could not start here, so a mismatch is an
// error naming the function; building it anyway (under emulation, or the
// wrong way round) would not be the function AWS runs. A function that
// declares none is built for the host, with a warning when the host is not
// x86_64, Lambda's default.
func CheckArchitectures(tmpl *sam.Template, hostArch string) (warnings []string, err error) {
	var bad []string
	at := func(f sam.Function, format string, args ...any) string {
		return sam.FunctionFieldError(tmpl, f, "Architectures", fmt.Errorf(format, args...)).Error()
	}
	for _, f := range tmpl.Functions {
		if len(f.Architectures) == 0 {
			if hostArch != ArchX86 && hostArch != "" {
				warnings = append(warnings, at(f, "function %s declares no Architectures (AWS's default is %s): built for this host's %s", f.Name, ArchX86, hostArch))
			}
			continue
		}
		want := f.Architectures[0]
		switch {
		case hostArch == "":
			warnings = append(warnings, at(f, "function %s declares Architectures [%s]; the host's architecture is unknown, so it was not checked", f.Name, want))
		case want != hostArch:
			bad = append(bad, at(f, "function %s is declared for %s, and this host runs %s: it cannot run %s images, so ESB does not build one; deploy it on an %s host, or declare %s",
				f.Name, want, hostArch, want, want, hostArch))
		}
	}
	if len(bad) > 0 {
		return warnings, fmt.Errorf("%s", strings.Join(bad, "\n"))
	}
	return warnings, nil
}
