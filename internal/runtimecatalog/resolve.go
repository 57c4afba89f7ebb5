package runtimecatalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrUnsupported is wrapped by every refusal of a Runtime value.
var ErrUnsupported = errors.New("unsupported runtime")

// AliasFlag is how people opt into running one runtime on another; errors
// and warnings name it so the fix is one copy away.
const AliasFlag = "--runtime-alias"

// AliasEnv is the environment variable that sets aliases for every esb
// command run with it, the way ESB_ENV and ESB_PORT_OFFSET select an env.
const AliasEnv = "ESB_RUNTIME_ALIAS"

// Aliases maps a runtime a template names to the supported runtime it
// runs on (python3.12 -> python3.13). Only ever filled by an explicit
// opt-in: --runtime-alias or ESB_RUNTIME_ALIAS.
type Aliases map[string]string

// String lists the aliases as the flag takes them, sorted.
func (a Aliases) String() string {
	var parts []string
	for _, from := range slices.Sorted(maps.Keys(a)) {
		parts = append(parts, from+"="+a[from])
	}
	return strings.Join(parts, ",")
}

// ParseAliases reads FROM=TO pairs; each value may hold several, separated
// by commas or white space (ESB_RUNTIME_ALIAS="python3.12=python3.13
// nodejs16.x=nodejs18.x"). Later pairs win over earlier ones for the same
// FROM. FROM must be a Lambda runtime identifier and TO a supported runtime
// of the same language: an alias changes the version, never the language.
func ParseAliases(values ...string) (Aliases, error) {
	out := Aliases{}
	for _, v := range values {
		for _, pair := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			from, to, ok := strings.Cut(pair, "=")
			if !ok || from == "" || to == "" {
				return nil, fmt.Errorf("runtime alias %q: want FROM=TO, e.g. python3.12=python3.13", pair)
			}
			fromFamily, known := knownFamily(from)
			if !known {
				return nil, fmt.Errorf("runtime alias %s: %s is not a Lambda runtime", pair, from)
			}
			target, ok := Lookup(to)
			if !ok {
				return nil, fmt.Errorf("runtime alias %s: ESB does not run %s (supported: %s)", pair, to, strings.Join(Names(), ", "))
			}
			if target.Family != fromFamily {
				return nil, fmt.Errorf("runtime alias %s: %s and %s are different languages", pair, from, to)
			}
			if from == to {
				return nil, fmt.Errorf("runtime alias %s: a runtime cannot be an alias of itself", pair)
			}
			out[from] = to
		}
	}
	return out, nil
}

// Resolution is what a template's Runtime value runs on.
type Resolution struct {
	Runtime   Runtime // the supported runtime the function is built on
	Requested string  // the value the template names
	// Warnings say what differs from AWS: an alias in effect, a runtime
	// AWS has deprecated.
	Warnings []string
}

// Resolve maps a Runtime value onto a supported runtime. A supported name
// resolves to itself, with a warning carrying AWS's dates when AWS has
// deprecated it at now. A name with an alias resolves to the alias's
// target, with a warning naming both. Anything else is refused
// (ErrUnsupported): a Lambda runtime ESB cannot build with the nearest
// supported one and the alias that opts into it, an unknown name with the
// list of supported ones.
func Resolve(name string, aliases Aliases, now time.Time) (Resolution, error) {
	res := Resolution{Requested: name}
	if to, ok := aliases[name]; ok {
		rt, ok := Lookup(to)
		if !ok {
			return res, fmt.Errorf("%w %s: alias target %s is not supported", ErrUnsupported, name, to)
		}
		res.Runtime = rt
		res.Warnings = append(res.Warnings, fmt.Sprintf("runtime %s runs on %s (alias %s=%s): the function is built and run as %s, which may behave differently from AWS's %s",
			name, to, name, to, to, name))
		if w := deprecationWarning(rt, now); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
		return res, nil
	}
	if rt, ok := Lookup(name); ok {
		res.Runtime = rt
		if w := deprecationWarning(rt, now); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
		return res, nil
	}
	for _, u := range unbuildables() {
		if u.Name != name {
			continue
		}
		near, ok := Nearest(u.Family, u.Version)
		if !ok {
			return res, fmt.Errorf("%w %s: %s", ErrUnsupported, name, u.Why)
		}
		return res, fmt.Errorf("%w %s: %s; the nearest supported runtime is %s: to run the function on it, opt in with %s %s=%s (or %s=%s=%s)",
			ErrUnsupported, name, u.Why, near.Name, AliasFlag, name, near.Name, AliasEnv, name, near.Name)
	}
	return res, fmt.Errorf("%w %q (supported: %s)", ErrUnsupported, name, strings.Join(Names(), ", "))
}

// deprecationWarning is empty while AWS supports rt at now.
func deprecationWarning(rt Runtime, now time.Time) string {
	if !rt.DeprecatedAt(now) {
		return ""
	}
	d := rt.Deprecation
	var b strings.Builder
	fmt.Fprintf(&b, "runtime %s is deprecated on AWS Lambda since %s", rt.Name, d.Deprecated.Format(time.DateOnly))
	var blocks []string
	if !d.BlockCreate.IsZero() {
		blocks = append(blocks, fmt.Sprintf("%s new functions on it from %s", verb(now, d.BlockCreate), d.BlockCreate.Format(time.DateOnly)))
	}
	if !d.BlockUpdate.IsZero() {
		blocks = append(blocks, fmt.Sprintf("%s updates of them from %s", verb(now, d.BlockUpdate), d.BlockUpdate.Format(time.DateOnly)))
	}
	if len(blocks) > 0 {
		b.WriteString(" (AWS " + strings.Join(blocks, "; ") + ")")
	}
	b.WriteString(": ESB still runs it")
	if latest, ok := Latest(rt.Family, now); ok && latest.Name != rt.Name {
		fmt.Fprintf(&b, "; move to %s so the template keeps deploying on AWS", latest.Name)
	}
	return b.String()
}

func verb(now, at time.Time) string {
	if now.Before(at) {
		return "refuses"
	}
	return "has refused"
}
