package sam

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// TypeAPIKey is an API key callers send in x-api-key.
const TypeAPIKey = "AWS::ApiGateway::ApiKey"

// readAPIKeys turns the template's API keys into keys the gateway accepts
// on routes with ApiKeyRequired. It runs once every API's stage is known.
// A key without Value gets its value from AWS at deploy time, which ESB
// cannot know: such a key opens nothing here. Key values are never put in
// a message.
func (p *parser) readAPIKeys(t *Template, rs []*rawResource) {
	if len(rs) == 0 {
		return
	}
	// The REST APIs of the template by id (what Ref of an API gives) and
	// their stages; an HttpApi has no API keys.
	stages := map[string]string{APIID(ImplicitRestAPI): p.implicitStage("Api", "Prod")}
	for _, a := range t.APIs {
		if a.Type == TypeServerlessAPI {
			stages[APIID(a.LogicalID)] = a.StageName
		}
	}
	for _, r := range rs {
		o := p.props(r, "")
		if rules, ok := propertyRules(r.typ); ok {
			p.checkProperties(o, r.typ, rules)
		}
		k := runtimeconfig.APIKey{Name: r.id}
		if v, ok := p.str(o, "Name"); ok && v.s != "" {
			k.Name = v.s
		}
		v, ok := p.str(o, "Value")
		if !ok || v.s == "" {
			p.d.warn(r.typNode, r.path, "API key %s has no Value: AWS generates one at deploy, which ESB cannot know, so it opens nothing here; put the keys callers use in $CONFIG_DIR/auth/api-keys", r.id)
			continue
		}
		if len(v.s) < 20 {
			// API Gateway refuses to create it; serving it would accept
			// what AWS never would.
			p.d.add(p.d.errf(v.n, v.path, "an API key value must be at least 20 characters long (API Gateway refuses a shorter one)"))
			continue
		}
		k.Value = v.s
		if b := p.boolean(o, "Enabled"); b != nil {
			k.Enabled = *b
		} else {
			p.d.warn(r.typNode, r.path, "API key %s does not set Enabled, and CloudFormation creates it disabled; ESB refuses it too (set Enabled: true)", r.id)
		}
		sk, path := p.field(o, "StageKeys")
		if sk != nil {
			if !p.stageKeys(&k, sk, path, stages) {
				// Every stage it names is unknown: accepting the key on
				// every API would open what AWS keeps closed.
				p.d.warn(sk, path, "API key %s is tied to no API stage of this template; it opens nothing here", r.id)
				continue
			}
		}
		t.APIKeys = append(t.APIKeys, k)
	}
}

// stageKeys reads StageKeys into k.Stages; false when none is usable.
func (p *parser) stageKeys(k *runtimeconfig.APIKey, sk *yaml.Node, path string, stages map[string]string) bool {
	if sk.Kind != yaml.SequenceNode {
		p.d.add(p.d.errf(sk, path, "want a list of {RestApiId, StageName}, got %s", describe(sk)))
		return false
	}
	for i, it := range sk.Content {
		o := obj{n: it, path: p.pathOf(it, indexPath(path, i))}
		api, okAPI := p.str(o, "RestApiId")
		stage, okStage := p.str(o, "StageName")
		if !okAPI || !okStage {
			p.d.warn(it, o.path, "a stage key needs RestApiId and StageName; skipped, the key opens nothing it would name")
			continue
		}
		id := strings.ToLower(api.s)
		want, known := stages[id]
		switch {
		case !known:
			p.d.warn(api.n, api.path, "%s is not a REST API of this template (use !Ref <Api>); the key opens nothing there", quote(api.s))
			continue
		case stage.s != want:
			p.d.warn(stage.n, stage.path, "API %s has stage %s, not %s; the key opens nothing there", api.s, quote(want), quote(stage.s))
			continue
		}
		k.Stages = append(k.Stages, runtimeconfig.APIStage{API: id, Stage: stage.s})
	}
	return len(k.Stages) > 0
}
