package sam

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// OpenAPI operations of an API's DefinitionBody or DefinitionUri become
// routes when their x-amazon-apigateway-integration is a Lambda proxy
// integration of a function of the template. The body is walked as YAML
// nodes rather than handed to an OpenAPI library: it holds CloudFormation
// intrinsics (!Sub in integration URIs), which such libraries reject, and
// only paths, methods and integrations matter here.

// openAPIMethod maps an OpenAPI operation key to the route method.
func openAPIMethod(key string) (string, bool) {
	switch strings.ToLower(key) {
	case "get", "put", "post", "delete", "options", "head", "patch":
		return strings.ToUpper(key), true
	case "x-amazon-apigateway-any-method":
		return "ANY", true
	}
	return "", false
}

// functionInURI finds the function an integration URI invokes:
// arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations,
// or the function ARN itself (HTTP APIs), possibly with an alias or version.
var functionInURI = regexp.MustCompile(`:function:([A-Za-z0-9_-]+)(?::[A-Za-z0-9_$-]+)?(?:/invocations)?$`)

// openAPIRoute is a route read from an API's OpenAPI document, waiting for
// the function it names to be read.
type openAPIRoute struct {
	route    Route
	function string // the function's name, from the integration URI
	at       *yaml.Node
	path     string
}

// openAPIBody returns the OpenAPI document of an API: its DefinitionBody
// (an Fn::Transform AWS::Include of a local file is read), else its
// DefinitionUri when that is a local file. ok is false when there is none
// or it cannot be read, which is reported.
func (p *parser) openAPIBody(o obj) (body *yaml.Node, path string, ok bool) {
	if raw := lookup(o.n, "DefinitionBody"); raw != nil {
		path := p.pathOf(raw, o.path+".DefinitionBody")
		if fn, arg, isFn := intrinsic(raw, false); isFn && fn == "Fn::Transform" {
			loc, locPath, ok := p.includeLocation(raw, arg, path)
			if !ok {
				return nil, "", false
			}
			return p.readOpenAPIFile(raw, locPath, loc)
		}
		return deref(raw), path, true
	}
	raw := lookup(o.n, "DefinitionUri")
	if raw == nil {
		return nil, "", false
	}
	v, path := p.field(o, "DefinitionUri")
	if v == nil || v.Kind != yaml.ScalarNode || strings.Contains(v.Value, "://") {
		p.d.warn(raw, path, "the OpenAPI document is not a local file, so ESB cannot read it; its routes are not served (give a path relative to the template)")
		return nil, "", false
	}
	return p.readOpenAPIFile(v, path, v.Value)
}

// includeLocation returns the local file an Fn::Transform AWS::Include
// names, and the path of its Location for messages.
func (p *parser) includeLocation(at, arg *yaml.Node, path string) (string, string, bool) {
	name, _ := literal(lookup(arg, "Name"))
	if name != "AWS::Include" {
		p.d.warn(at, path, "Fn::Transform %s is a macro ESB cannot run; the API's routes are not served", quote(name))
		return "", "", false
	}
	locPath := path + ".Fn::Transform.Parameters.Location"
	loc, err := p.resolveString("Location", lookup(lookup(arg, "Parameters"), "Location"), locPath)
	if err != nil {
		p.d.add(err)
		return "", "", false
	}
	if strings.Contains(loc, "://") {
		p.d.warn(at, locPath, "AWS::Include of %s: remote files are not fetched; the API's routes are not served (give a path relative to the template)", quote(loc))
		return "", "", false
	}
	return loc, locPath, true
}

// readOpenAPIFile parses a local OpenAPI file (YAML or JSON) inside the
// template's directory.
func (p *parser) readOpenAPIFile(at *yaml.Node, path, rel string) (*yaml.Node, string, bool) {
	full := rel
	if !filepath.IsAbs(full) {
		full = filepath.Join(p.dir, filepath.FromSlash(rel))
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil || !within(p.dir, real) {
		p.d.add(p.d.errf(at, path, "OpenAPI file %s does not exist inside the template's directory", quote(rel)))
		return nil, "", false
	}
	src, err := os.ReadFile(real)
	if err != nil {
		p.d.add(p.d.errf(at, path, "read OpenAPI file %s: %s", quote(rel), err.Error()))
		return nil, "", false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(jsonAsYAML(src), &doc); err != nil || len(doc.Content) == 0 || !isMap(doc.Content[0]) {
		msg := "not a YAML or JSON mapping"
		if err != nil {
			msg = err.Error()
		}
		p.d.add(p.d.errf(at, path, "OpenAPI file %s: %s", quote(rel), msg))
		return nil, "", false
	}
	// Positions inside the file would be read as lines of the template;
	// messages point at the line that names the file instead.
	body := deref(doc.Content[0])
	place(body, at)
	return body, path + " (" + filepath.ToSlash(rel) + ")", true
}

// place moves every node of a tree to where at is written.
func place(n, at *yaml.Node) {
	if n == nil || at == nil {
		return
	}
	n.Line, n.Column = at.Line, at.Column
	for _, c := range n.Content {
		place(c, at)
	}
}

// openAPIRoutes reads the routes of an API's OpenAPI document.
func (p *parser) openAPIRoutes(r *rawResource, o obj, a API) {
	body, bodyPath, ok := p.openAPIBody(o)
	if !ok {
		return
	}
	payload := "1.0"
	if r.typ == TypeServerlessHTTPAPI {
		payload = "2.0"
	}
	globalSecurity := lookup(body, "security")
	for _, pi := range pairs(lookup(body, "paths")) {
		path := pi.key
		if r.typ == TypeServerlessHTTPAPI && path == "$default" {
			path = "/{proxy+}"
		}
		for _, op := range pairs(pi.val) {
			method, isOp := openAPIMethod(op.key)
			if !isOp {
				continue
			}
			opPath := joinPath(joinPath(bodyPath, "paths."+pi.key), op.key)
			route := method + " " + pi.key
			if secured(lookup(op.val, "security"), globalSecurity) {
				p.d.warn(op.knode, opPath, "%s requires authorization (OpenAPI security), which ESB does not enforce; not served, so it is not left open", route)
				continue
			}
			integ := localRef(body, lookup(op.val, "x-amazon-apigateway-integration"))
			if integ == nil {
				p.d.warn(op.knode, opPath, "%s has no x-amazon-apigateway-integration; not served", route)
				continue
			}
			typ, _ := literal(lookup(integ, "type"))
			if !strings.EqualFold(typ, "aws_proxy") {
				p.d.warn(integ, opPath+".x-amazon-apigateway-integration", "%s: integration type %s is not served; ESB serves Lambda proxy integrations (aws_proxy)", route, quote(typ))
				continue
			}
			uriNode := lookup(integ, "uri")
			uri, err := p.resolveString("uri", uriNode, opPath+".x-amazon-apigateway-integration.uri")
			if err != nil {
				p.d.warn(integ, opPath+".x-amazon-apigateway-integration.uri", "%s: the integration URI cannot be evaluated locally (%s); not served", route, errorText(err))
				continue
			}
			m := functionInURI.FindStringSubmatch(uri)
			if m == nil {
				p.d.warn(uriNode, opPath+".x-amazon-apigateway-integration.uri", "%s: %s names no Lambda function ESB can find; not served", route, quote(uri))
				continue
			}
			rtPayload := payload
			if v, ok := literal(lookup(integ, "payloadFormatVersion")); ok && r.typ == TypeServerlessHTTPAPI {
				rtPayload = v
			}
			if rtPayload != "1.0" && rtPayload != "2.0" {
				p.d.warn(integ, opPath+".x-amazon-apigateway-integration.payloadFormatVersion", "%s: payload format %s is not one of 1.0, 2.0; not served", route, quote(rtPayload))
				continue
			}
			typEvent := EventAPI
			if r.typ == TypeServerlessHTTPAPI {
				typEvent = EventHTTPAPI
			}
			timeout, ok := p.integrationTimeout(obj{n: integ, path: opPath + ".x-amazon-apigateway-integration"}, "timeoutInMillis", typEvent)
			if !ok {
				continue
			}
			p.openAPI = append(p.openAPI, openAPIRoute{
				route:    Route{Type: typEvent, Path: path, Method: method, Payload: rtPayload, API: r.id, Stage: a.StageName, OpenAPI: opPath, TimeoutMillis: timeout, node: op.knode},
				function: m[1],
				at:       op.knode,
				path:     opPath,
			})
		}
	}
}

// localRef follows {$ref: "#/a/b"} to the node it points at in doc, as
// HTTP APIs share integrations through
// components.x-amazon-apigateway-integrations; other nodes are returned
// as they are, and a $ref that leads nowhere gives nil.
func localRef(doc, n *yaml.Node) *yaml.Node {
	ref, ok := literal(lookup(n, "$ref"))
	if !ok {
		return n
	}
	target, found := strings.CutPrefix(ref, "#/")
	if !found {
		return nil
	}
	cur := doc
	for _, part := range strings.Split(target, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if cur = lookup(cur, part); cur == nil {
			return nil
		}
	}
	return cur
}

// secured reports an operation that needs authorization: its own security
// requirements, else the document's, name at least one scheme. An empty
// requirement ({}) means "no authorization".
func secured(op, global *yaml.Node) bool {
	req := deref(op)
	if req == nil {
		req = deref(global)
	}
	if req == nil {
		return false
	}
	for _, c := range req.Content {
		if len(pairs(c)) > 0 {
			return true
		}
	}
	return false
}

// errorText is an error's message without the position the warning
// carries anyway.
func errorText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Err.Error()
	}
	return err.Error()
}
