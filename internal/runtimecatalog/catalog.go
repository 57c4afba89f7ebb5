// Package runtimecatalog lists the Lambda runtimes ESB can run: the single
// answer to "is this Runtime value supported?" for the template parser, the
// deploy pipeline and the runtime images.
package runtimecatalog

import "sort"

// Families group runtimes that share a runtime interface client.
const (
	FamilyPython   = "python"
	FamilyNodejs   = "nodejs"
	FamilyProvided = "provided" // OS-only: the function ships a bootstrap
)

// Runtime is one supported Lambda runtime identifier.
type Runtime struct {
	Name   string // as written in a SAM template, e.g. "python3.13"
	Family string // FamilyPython, FamilyNodejs or FamilyProvided
}

// all is a function rather than a package variable so no caller can mutate
// the catalog.
func all() []Runtime {
	return []Runtime{
		{Name: "python3.13", Family: FamilyPython},
		{Name: "nodejs20.x", Family: FamilyNodejs},
		{Name: "provided.al2023", Family: FamilyProvided},
		{Name: "provided.al2", Family: FamilyProvided},
	}
}

// Lookup returns the runtime called name, matched exactly as Lambda does.
func Lookup(name string) (Runtime, bool) {
	for _, r := range all() {
		if r.Name == name {
			return r, true
		}
	}
	return Runtime{}, false
}

// Names returns the supported runtime names, sorted.
func Names() []string {
	rs := all()
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	sort.Strings(names)
	return names
}
