// Package runtimecatalog lists the Lambda runtimes ESB can run: the single
// answer to "is this Runtime value supported?" for the template parser, the
// deploy pipeline and the runtime images. It also knows the Lambda runtimes
// ESB cannot build (no package source an edge site reaches ships them), so
// it can name the nearest supported one, and AWS's deprecation dates, so
// templates on a runtime AWS retired are warned about.
package runtimecatalog

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Families group runtimes that share a runtime interface client.
const (
	FamilyPython   = "python"
	FamilyNodejs   = "nodejs"
	FamilyJava     = "java"
	FamilyRuby     = "ruby"
	FamilyProvided = "provided" // OS-only: the function ships a bootstrap
	FamilyDotnet   = "dotnet"   // known to Lambda, no ESB client
)

// Runtime is one supported Lambda runtime identifier.
type Runtime struct {
	Name   string // as written in a SAM template, e.g. "python3.13"
	Family string // FamilyPython, FamilyNodejs, ...
	// Version is the language version ("3.13", "22", "21", "3.3"); empty
	// for the OS-only runtimes.
	Version string
	// Deprecation holds AWS's dates for the runtime; nil while AWS has
	// announced none.
	Deprecation *Deprecation
}

// Deprecation is AWS's schedule for retiring a runtime. BlockCreate and
// BlockUpdate are zero where ESB does not record AWS's date.
type Deprecation struct {
	// Deprecated is the day AWS stops patching the runtime.
	Deprecated time.Time
	// BlockCreate is the day AWS refuses new functions on the runtime.
	BlockCreate time.Time
	// BlockUpdate is the day AWS refuses updates of such functions.
	BlockUpdate time.Time
}

// DeprecatedAt reports whether AWS has deprecated the runtime at now.
func (r Runtime) DeprecatedAt(now time.Time) bool {
	return r.Deprecation != nil && !now.Before(r.Deprecation.Deprecated)
}

// unbuildable is a Lambda runtime identifier ESB knows but cannot build:
// Why says what is missing.
type unbuildable struct {
	Name, Family, Version, Why string
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// all is a function rather than a package variable so no caller can mutate
// the catalog. Each runtime is built from a package source an air-gapped
// site can mirror (Debian's archive, the npm registry); the Dockerfile per
// runtime lives in services/runtime. Dates are AWS's (Lambda runtimes
// page, "Deprecated runtimes" and "Supported runtimes" tables).
func all() []Runtime {
	return []Runtime{
		{Name: "python3.11", Family: FamilyPython, Version: "3.11", Deprecation: &Deprecation{Deprecated: day(2026, time.June, 30)}},
		{Name: "python3.13", Family: FamilyPython, Version: "3.13"},
		{Name: "python3.14", Family: FamilyPython, Version: "3.14"},
		{Name: "nodejs18.x", Family: FamilyNodejs, Version: "18", Deprecation: &Deprecation{Deprecated: day(2025, time.September, 1)}},
		{Name: "nodejs20.x", Family: FamilyNodejs, Version: "20", Deprecation: &Deprecation{Deprecated: day(2026, time.April, 30), BlockCreate: day(2026, time.August, 31)}},
		{Name: "nodejs22.x", Family: FamilyNodejs, Version: "22", Deprecation: &Deprecation{Deprecated: day(2027, time.April, 30)}},
		{Name: "nodejs24.x", Family: FamilyNodejs, Version: "24"},
		{Name: "java17", Family: FamilyJava, Version: "17", Deprecation: &Deprecation{Deprecated: day(2026, time.June, 30)}},
		{Name: "java21", Family: FamilyJava, Version: "21", Deprecation: &Deprecation{Deprecated: day(2029, time.June, 30)}},
		{Name: "java25", Family: FamilyJava, Version: "25"},
		{Name: "ruby3.3", Family: FamilyRuby, Version: "3.3", Deprecation: &Deprecation{Deprecated: day(2027, time.March, 31)}},
		{Name: "provided.al2023", Family: FamilyProvided},
		{Name: "provided.al2", Family: FamilyProvided, Deprecation: &Deprecation{Deprecated: day(2026, time.June, 30)}},
	}
}

// unbuildables are Lambda runtimes templates still name that no source an
// edge site reaches can build faithfully. They are refused with the
// nearest supported runtime and the alias that opts into it, never run on
// another version silently. Runtimes AWS retired for good (python2.7,
// nodejs12.x, go1.x...) are not listed: they are refused as unknown, as
// AWS refuses them.
func unbuildables() []unbuildable {
	const (
		noPython = "no package source ESB builds from ships it (Debian has Python 3.11, 3.13 and 3.14)"
		noNode   = "it is retired on AWS, and ESB builds Node.js 18 and later"
		noJava   = "ESB builds Java 17, 21 and 25 from Debian's OpenJDK packages"
		noRuby   = "no package source ESB builds from ships it (Debian has Ruby 3.3)"
		noDotnet = "ESB has no .NET runtime client; use a container image function (PackageType: Image)"
	)
	return []unbuildable{
		{Name: "python3.12", Family: FamilyPython, Version: "3.12", Why: noPython},
		{Name: "python3.10", Family: FamilyPython, Version: "3.10", Why: noPython},
		{Name: "python3.9", Family: FamilyPython, Version: "3.9", Why: noPython},
		{Name: "python3.8", Family: FamilyPython, Version: "3.8", Why: noPython},
		{Name: "nodejs16.x", Family: FamilyNodejs, Version: "16", Why: noNode},
		{Name: "nodejs14.x", Family: FamilyNodejs, Version: "14", Why: noNode},
		{Name: "java11", Family: FamilyJava, Version: "11", Why: noJava},
		{Name: "java8.al2", Family: FamilyJava, Version: "8", Why: noJava},
		{Name: "ruby3.4", Family: FamilyRuby, Version: "3.4", Why: noRuby},
		{Name: "ruby3.2", Family: FamilyRuby, Version: "3.2", Why: noRuby},
		{Name: "dotnet8", Family: FamilyDotnet, Version: "8", Why: noDotnet},
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
	slices.Sort(names)
	return names
}

// All returns the supported runtimes in catalog order (by family, then
// version).
func All() []Runtime {
	return all()
}

// knownFamily returns the family of a Lambda runtime identifier, supported
// or not.
func knownFamily(name string) (string, bool) {
	if rt, ok := Lookup(name); ok {
		return rt.Family, true
	}
	for _, u := range unbuildables() {
		if u.Name == name {
			return u.Family, true
		}
	}
	return "", false
}

// Nearest returns the supported runtime of family closest to version;
// on a tie the newer one, since code moves forward more safely than back.
func Nearest(family, version string) (Runtime, bool) {
	var best Runtime
	var bestDist float64 = -1
	want := versionNumber(version)
	for _, r := range all() {
		if r.Family != family {
			continue
		}
		if family == FamilyProvided {
			// provided.al2023 is the successor of every OS-only runtime.
			if r.Name == "provided.al2023" {
				return r, true
			}
			continue
		}
		dist := versionNumber(r.Version) - want
		if dist < 0 {
			dist = -dist
		}
		if bestDist < 0 || dist < bestDist || (dist == bestDist && versionNumber(r.Version) > versionNumber(best.Version)) {
			best, bestDist = r, dist
		}
	}
	return best, bestDist >= 0
}

// versionNumber maps "3.13" to 3.13 and "22" to 22, so versions of one
// family compare by distance. "3.9" < "3.13" is kept by reading the minor
// version as a whole number.
func versionNumber(v string) float64 {
	major, minor, _ := strings.Cut(v, ".")
	ma, _ := strconv.Atoi(major)
	mi, _ := strconv.Atoi(minor)
	return float64(ma) + float64(mi)/1000
}

// Latest returns the newest supported runtime of a family that AWS has not
// deprecated at now: what a deprecation warning suggests moving to.
func Latest(family string, now time.Time) (Runtime, bool) {
	var out []Runtime
	for _, r := range all() {
		if r.Family == family && !r.DeprecatedAt(now) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return Runtime{}, false
	}
	return slices.MaxFunc(out, func(a, b Runtime) int {
		return cmp.Compare(versionNumber(a.Version), versionNumber(b.Version))
	}), true
}
