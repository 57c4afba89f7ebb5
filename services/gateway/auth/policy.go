package auth

import (
	"encoding/json"
	"strings"
)

// Policy is the IAM policy document a Lambda authorizer returns.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Policy. Action and Resource may be a
// string or a list, as IAM allows.
type Statement struct {
	Effect   string      `json:"Effect"`
	Action   stringOrSet `json:"Action"`
	Resource stringOrSet `json:"Resource"`
}

// stringOrSet decodes a JSON string or list of strings.
type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Effect of a policy on one call.
type Effect int

// Outcomes of Evaluate.
const (
	NoMatch Effect = iota // no statement allows: 403
	Allow
	Deny // an explicit deny, which wins over any allow
)

// Evaluate decides whether p lets the caller invoke methodARN
// (execute-api:Invoke), the way IAM evaluates an authorizer's policy: an
// explicit Deny wins, else any Allow, else nothing is allowed. Actions and
// resources match with IAM's wildcards, * and ?.
func (p Policy) Evaluate(methodARN string) Effect {
	allowed := false
	for _, st := range p.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke", true) || !matchesAny(st.Resource, methodARN, false) {
			continue
		}
		switch {
		case strings.EqualFold(st.Effect, "Deny"):
			return Deny
		case strings.EqualFold(st.Effect, "Allow"):
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return NoMatch
}

func matchesAny(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			// IAM action names are case-insensitive; ARNs are not.
			if wildcard(strings.ToLower(p), strings.ToLower(s)) {
				return true
			}
			continue
		}
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches s against pattern, where * is any run of characters
// (slashes included, as in IAM) and ? exactly one.
func wildcard(pattern, s string) bool {
	// Iterative matcher with one backtrack point: linear in practice and
	// never exponential, whatever pattern an authorizer returns.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
