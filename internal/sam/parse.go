package sam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimecatalog"
)

// Defaults of the pseudo parameters, used when Options leaves them empty.
// The account ID is the platform's (awsid.DefaultAccountID).
const (
	DefaultRegion    = "us-east-1"
	DefaultStackName = "esb"
)

// SAMTransform is the Transform a template needs to use AWS::Serverless::*
// resources.
const SAMTransform = "AWS::Serverless-2016-10-31"

// maxNodes bounds the size of a template after YAML aliases are expanded,
// so a small "billion laughs" document cannot exhaust memory or time.
const maxNodes = 1 << 18

// Options are the values a template is evaluated with. The zero value is
// usable.
type Options struct {
	// ParameterOverrides set template parameters by name, as
	// `sam deploy --parameter-overrides` does. Naming a parameter the
	// template does not declare is an error.
	ParameterOverrides map[string]string
	Region             string // AWS::Region; DefaultRegion if empty
	AccountID          string // AWS::AccountId; awsid.DefaultAccountID if empty
	StackName          string // AWS::StackName; DefaultStackName if empty
	// RuntimeAliases run a function whose Runtime ESB cannot build on
	// another runtime of the language (python3.12=python3.13), with a
	// warning; only an explicit opt-in fills it.
	RuntimeAliases runtimecatalog.Aliases
	// Now dates deprecation warnings (AWS's runtime deprecation dates);
	// the zero value means the current time.
	Now time.Time
}

// MaxTemplateBytes caps a template's size: it is refused before parsing,
// so a huge or endless file (a YAML bomb's input) costs nothing. AWS's own
// cap is 1 MB for a template in S3; SAM templates with inline code grow larger.
const MaxTemplateBytes = 5 << 20

// ParseFile reads and parses the template at path. Errors name the file as
// path was given.
func ParseFile(path string, opts Options) (*Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	defer f.Close()
	// One byte more than allowed tells an oversized file apart.
	src, err := io.ReadAll(io.LimitReader(f, MaxTemplateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("template path %s: %w", path, err)
	}
	t, err := Parse(path, src, filepath.Dir(abs), opts)
	if err != nil {
		return nil, err
	}
	t.Path = abs
	return t, nil
}

// Parse parses the template src. name is how errors refer to the file; dir
// is the directory CodeUri, ContentUri and DockerContext are relative to,
// and which they may not leave.
func Parse(name string, src []byte, dir string, opts Options) (*Template, error) {
	if len(src) > MaxTemplateBytes {
		return nil, fmt.Errorf("%s: template larger than %d MB, refused before parsing", name, MaxTemplateBytes>>20)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("template directory %s: %w", dir, err)
	}
	realDir, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	p := newParser(name, realDir, opts)
	root, err := p.decodeYAML(src)
	if err != nil {
		return nil, err
	}
	if p.checkDuplicateKeys(root); p.d.err() != nil {
		return nil, p.d.err()
	}
	t := p.parse(root)
	if err := p.d.err(); err != nil {
		return nil, err
	}
	t.Dir = realDir
	t.Warnings = p.d.warns
	return t, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML parses src into a node tree. yaml.v3 reports syntax errors as
// "yaml: line N: ..."; they are turned into positioned errors.
func (p *parser) decodeYAML(src []byte) (root *yaml.Node, err error) {
	// The parser is third-party code fed with user input: a panic in it
	// must become an error, never a crash of the CLI.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, p.d.errf(nil, "", "invalid YAML: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(jsonAsYAML(src), &doc); err != nil {
		msg := err.Error()
		if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: p.d.file, Line: line, Err: fmt.Errorf("invalid YAML: %s", m[2])}
		}
		return nil, p.d.errorAt(nil, "", fmt.Errorf("invalid YAML: %w", err))
	}
	if len(doc.Content) == 0 {
		return nil, p.d.errf(nil, "", "template is empty")
	}
	root = doc.Content[0]
	if size := countNodes(root, maxNodes+1); size > maxNodes {
		return nil, p.d.errf(root, "", "template is too large once YAML aliases are expanded (over %d nodes)", maxNodes)
	}
	if deref(root) == nil || deref(root).Kind != yaml.MappingNode {
		return nil, p.d.errf(root, "", "template must be a mapping of sections (Resources, Parameters, ...), got %s", describe(root))
	}
	return deref(root), nil
}

// jsonAsYAML makes a JSON template parseable as YAML. JSON is YAML except
// for one escape: "\/" (which some JSON encoders write for "/") is not a
// YAML escape. Outside strings valid JSON has no backslash, so unescaping
// every "\/" that is not itself an escaped backslash is safe.
func jsonAsYAML(src []byte) []byte {
	if !bytes.Contains(src, []byte(`\/`)) || !json.Valid(src) {
		return src
	}
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		if src[i] == '\\' && i+1 < len(src) {
			if src[i+1] == '/' {
				out = append(out, '/')
			} else {
				out = append(out, src[i], src[i+1])
			}
			i++
			continue
		}
		out = append(out, src[i])
	}
	return out
}

// countNodes counts nodes with aliases expanded, stopping at limit.
func countNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if count >= limit {
			return
		}
		count++
		if n == nil {
			return
		}
		if n.Kind == yaml.AliasNode {
			if depth > maxAliasDepth {
				count = limit
				return
			}
			walk(n.Alias, depth+1)
			return
		}
		for _, c := range n.Content {
			walk(c, depth)
		}
	}
	walk(n, 0)
	return count
}

// parser holds one parse: the raw sections and the evaluation state.
type parser struct {
	d    *diag
	dir  string
	opts Options
	// langExt is set when the template uses the AWS::LanguageExtensions
	// transform, which its functions need.
	langExt bool
	// expandedNodes counts the nodes Fn::ForEach loops have produced.
	expandedNodes int

	params     map[string]*param
	paramOrder []string
	mappings   *yaml.Node
	conditions map[string]*yaml.Node
	condKeys   map[string]*yaml.Node
	condOrder  []string
	resources  map[string]*rawResource
	order      []string
	globals    map[string]*yaml.Node       // section name -> mapping
	implicit   map[string]implicitResource // SAM-generated logical ID -> what it is

	// Conditions and resource names are evaluated once, on first use; the
	// state (0 not seen, 1 evaluating, 2 done) detects cycles, and the
	// stacks name them in the message.
	condState map[string]int
	condValue map[string]bool
	condErr   map[string]error
	condStack []string
	condDepth int // > 0 while evaluating a condition, where resources may not be referenced
	// generatedQueues and generatedTopics are what SAM creates for a
	// function's EventInvokeConfig destination of Type SQS or SNS without
	// a Destination; they join the template's own after its resources.
	generatedQueues []Queue
	generatedTopics []Topic

	nameState map[string]int
	nameValue map[string]string
	nameErr   map[string]error
	nameStack []string
	fnLayers  map[string][]string // function logical ID -> layer logical IDs
	openAPI   []openAPIRoute      // routes of OpenAPI documents, until functions are read
	iamWarned bool                // the one warning that IAM is not enforced was given
	// origins gives nodes taken from Globals their own path.
	origins map[*yaml.Node]string
}

// rawResource is one entry of Resources before evaluation.
type rawResource struct {
	id        string
	path      string // "Resources.<id>"
	node      *yaml.Node
	typ       string
	typNode   *yaml.Node
	props     *yaml.Node // mapping or nil
	condition string
	condNode  *yaml.Node
	metadata  *yaml.Node
	skipped   bool // its Condition is false
	// ignoreAll and ignore come from the IgnoreGlobals attribute: Globals
	// properties this resource does not take.
	ignoreAll  bool
	ignore     map[string]bool
	connectors *yaml.Node // the Connectors attribute (embedded connectors)
}

func newParser(file, dir string, opts Options) *parser {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = awsid.DefaultAccountID
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.StackName == "" {
		opts.StackName = DefaultStackName
	}
	return &parser{
		d:          newDiag(file),
		dir:        dir,
		opts:       opts,
		params:     map[string]*param{},
		conditions: map[string]*yaml.Node{},
		condKeys:   map[string]*yaml.Node{},
		resources:  map[string]*rawResource{},
		globals:    map[string]*yaml.Node{},
		implicit:   map[string]implicitResource{},
		condState:  map[string]int{},
		condValue:  map[string]bool{},
		condErr:    map[string]error{},
		nameState:  map[string]int{},
		nameValue:  map[string]string{},
		nameErr:    map[string]error{},
		origins:    map[*yaml.Node]string{},
		fnLayers:   map[string][]string{},
	}
}

var logicalIDPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// parse runs the phases in order. Each later phase relies on the earlier
// ones being error-free, so it stops at the first phase that fails.
func (p *parser) parse(root *yaml.Node) *Template {
	t := &Template{}
	p.readSections(root, t)
	if p.d.err() != nil {
		return t
	}
	p.checkReferences(root)
	if p.d.err() != nil {
		return t
	}
	p.resolveParameters()
	if p.d.err() != nil {
		return t
	}
	p.applyConditions()
	if p.d.err() != nil {
		return t
	}
	// Cycles are looked for once conditions are known: a resource that is
	// not created, or an Fn::If branch not taken, links nothing.
	p.checkCycles()
	if p.d.err() != nil {
		return t
	}
	p.readResources(t)
	// Resources that were read are checked for clashes even when others
	// failed: those are independent problems.
	p.checkUnique(t)
	return t
}

// readSections splits the template into its sections and checks their
// shape.
func (p *parser) readSections(root *yaml.Node, t *Template) {
	var resources, globals, params, transform, conditions, outputs *yaml.Node
	for _, s := range pairs(root) {
		switch s.key {
		case "AWSTemplateFormatVersion", "Metadata":
		case "Rules":
			if len(pairs(s.val)) > 0 {
				p.d.warn(s.knode, "Rules", "rules are not checked locally; parameter values CloudFormation's rules would refuse are deployed")
			}
		case "Outputs":
			outputs = s.val
		case "Description":
			if v := deref(s.val); v != nil && v.Kind == yaml.ScalarNode {
				t.Description = v.Value
			}
		case "Transform":
			transform = s.val
		case "Parameters":
			params = s.val
		case "Mappings":
			p.mappings = s.val
			if !isMap(s.val) && !isNull(s.val) {
				p.d.add(p.d.errf(s.val, "Mappings", "want a mapping, got %s", describe(s.val)))
			}
		case "Conditions":
			conditions = s.val
			if !isMap(s.val) && !isNull(s.val) {
				p.d.add(p.d.errf(s.val, "Conditions", "want a mapping, got %s", describe(s.val)))
			}
		case "Resources":
			resources = s.val
		case "Globals":
			globals = s.val
		default:
			p.d.add(p.d.errf(s.knode, s.key, "unknown template section (want AWSTemplateFormatVersion, Transform, Description, Metadata, Parameters, Rules, Mappings, Conditions, Globals, Resources or Outputs)"))
		}
	}
	p.readParameterDecls(params)
	// Loops are unrolled before anything reads the sections they write.
	p.langExt = hasTransform(transform, LanguageExtensions)
	for _, sec := range []struct {
		name string
		n    *yaml.Node
	}{{"Conditions", conditions}, {"Resources", resources}, {"Outputs", outputs}, {"Globals", globals}} {
		p.expandForEach(sec.n, sec.name, 0)
	}
	for _, c := range pairs(conditions) {
		p.conditions[c.key] = c.val
		p.condKeys[c.key] = c.knode
		p.condOrder = append(p.condOrder, c.key)
	}
	if resources == nil || len(pairs(resources)) == 0 {
		at := resources
		if at == nil {
			at = root
		}
		p.d.add(p.d.errf(at, "Resources", "a template needs at least one resource"))
		return
	}
	if !isMap(resources) {
		p.d.add(p.d.errf(resources, "Resources", "want a mapping, got %s", describe(resources)))
		return
	}
	for _, r := range pairs(resources) {
		p.readRawResource(r)
	}
	p.checkTransform(transform)
	p.readGlobals(globals)
	p.findImplicit()
}

func (p *parser) readRawResource(r pair) {
	path := "Resources." + r.key
	if !logicalIDPattern.MatchString(r.key) {
		p.d.add(p.d.errf(r.knode, path, "logical ID must be alphanumeric (A-Z, a-z, 0-9)"))
		return
	}
	if _, dup := p.resources[r.key]; dup {
		p.d.add(p.d.errf(r.knode, path, "resource defined twice"))
		return
	}
	if _, clash := p.params[r.key]; clash {
		p.d.add(p.d.errf(r.knode, path, "a parameter has the same name; Ref would be ambiguous"))
		return
	}
	if !isMap(r.val) {
		p.d.add(p.d.errf(r.val, path, "want a mapping with Type and Properties, got %s", describe(r.val)))
		return
	}
	res := &rawResource{id: r.key, path: path, node: deref(r.val)}
	for _, a := range pairs(r.val) {
		switch a.key {
		case "Type":
			v := deref(a.val)
			if v == nil || v.Kind != yaml.ScalarNode || v.Value == "" || isCustomTag(v.Tag) {
				p.d.add(p.d.errf(a.val, path+".Type", "want a resource type such as AWS::Serverless::Function, got %s", describe(a.val)))
				return
			}
			res.typ, res.typNode = v.Value, v
		case "Properties":
			if isNull(a.val) {
				continue
			}
			if _, _, ok := intrinsic(a.val, false); ok || !isMap(a.val) {
				p.d.add(p.d.errf(a.val, path+".Properties", "want a mapping of properties, got %s", describe(a.val)))
				return
			}
			res.props = deref(a.val)
		case "Condition":
			v := deref(a.val)
			if v == nil || v.Kind != yaml.ScalarNode || isCustomTag(v.Tag) {
				p.d.add(p.d.errf(a.val, path+".Condition", "want a condition name, got %s", describe(a.val)))
				return
			}
			res.condition, res.condNode = v.Value, v
		case "Metadata":
			res.metadata = a.val
		case "IgnoreGlobals":
			if !p.readIgnoreGlobals(res, a.val, path+".IgnoreGlobals") {
				return
			}
		case "Connectors":
			res.connectors = a.val
		case "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy", "Version", "Description":
			// Description is documentation; the others order or protect
			// resources on AWS, which a local deploy that never deletes
			// anything has no use for.
		default:
			p.d.add(p.d.errf(a.knode, path+"."+a.key, "unknown resource attribute (want Type, Properties, Condition, DependsOn, Metadata, DeletionPolicy, UpdateReplacePolicy, UpdatePolicy, CreationPolicy, Description, Connectors or IgnoreGlobals)"))
		}
	}
	if res.typ == "" {
		p.d.add(p.d.errf(r.val, path, "Type is missing"))
		return
	}
	p.resources[r.key] = res
	p.order = append(p.order, r.key)
}

// readIgnoreGlobals reads IgnoreGlobals: "*" or a list of property names
// whose Globals value the resource does not take. Names are checked
// against Globals once it is read (checkIgnoreGlobals).
func (p *parser) readIgnoreGlobals(res *rawResource, n *yaml.Node, path string) bool {
	v := deref(n)
	switch {
	case v != nil && v.Kind == yaml.ScalarNode && v.Value == "*" && !isCustomTag(v.Tag):
		res.ignoreAll = true
		return true
	case v != nil && v.Kind == yaml.SequenceNode:
		res.ignore = map[string]bool{}
		for _, c := range v.Content {
			c = deref(c)
			if c == nil || c.Kind != yaml.ScalarNode || isCustomTag(c.Tag) {
				p.d.add(p.d.errf(c, path, "want property names, got %s", describe(c)))
				return false
			}
			res.ignore[c.Value] = true
		}
		return true
	}
	p.d.add(p.d.errf(n, path, "want \"*\" or a list of Globals property names, got %s", describe(n)))
	return false
}

// checkTransform enforces what CloudFormation enforces: without the SAM
// transform, AWS::Serverless::* types do not exist.
func (p *parser) checkTransform(transform *yaml.Node) {
	has := hasTransform(transform, SAMTransform)
	if has {
		return
	}
	for _, id := range p.order {
		r := p.resources[id]
		if strings.HasPrefix(r.typ, "AWS::Serverless::") {
			p.d.add(p.d.errf(r.typNode, r.path+".Type", "%s needs \"Transform: %s\" at the top of the template", r.typ, SAMTransform))
			return
		}
	}
}

// readGlobals keeps the Globals sections that apply to resources ESB reads.
func (p *parser) readGlobals(g *yaml.Node) {
	if isNull(g) {
		return
	}
	if !isMap(g) {
		p.d.add(p.d.errf(g, "Globals", "want a mapping, got %s", describe(g)))
		return
	}
	for _, s := range pairs(g) {
		path := "Globals." + s.key
		allowed, known := globalsProperties(s.key)
		if !known {
			p.d.add(p.d.errf(s.knode, path, "unknown Globals section (want %s)", strings.Join(globalsSections(), ", ")))
			continue
		}
		if !isMap(s.val) {
			p.d.add(p.d.errf(s.val, path, "want a mapping, got %s", describe(s.val)))
			continue
		}
		for _, f := range pairs(s.val) {
			switch {
			case s.key == "Function" && (f.key == "FunctionName" || f.key == "Events" || f.key == "Role" || f.key == "Policies"):
				p.d.add(p.d.errf(f.knode, path+"."+f.key, "cannot be set in Globals; set it on each function"))
			case (s.key == "Api" || s.key == "HttpApi") && f.key == "StageName":
				// Not in the transform's list, but templates set it for the
				// implicit API's stage, and reading it costs nothing: the
				// stage of ServerlessRestApi / ServerlessHttpApi comes from here.
			case !contains(allowed, f.key):
				p.d.add(p.d.errf(f.knode, path+"."+f.key, "not a property Globals.%s can set (it can set %s)", s.key, strings.Join(allowed, ", ")))
			}
		}
		p.globals[s.key] = deref(s.val)
		// Values taken from Globals keep their own path in messages, so an
		// error points at the line to fix and not at every function.
		for _, f := range pairs(s.val) {
			p.markOrigin(f.val, path+"."+f.key)
		}
	}
}

func (p *parser) markOrigin(n *yaml.Node, path string) {
	if n != nil {
		p.origins[n] = path
	}
}

// applyConditions evaluates every named condition, so an error in one
// that no resource uses is still reported, then marks the resources whose
// Condition is false.
func (p *parser) applyConditions() {
	for _, name := range p.condOrder {
		if _, err := p.namedCondition(name, p.condKeys[name], "Conditions."+name); err != nil {
			p.d.add(err)
		}
	}
	for _, id := range p.order {
		r := p.resources[id]
		if r.condition == "" {
			continue
		}
		v, err := p.namedCondition(r.condition, r.condNode, r.path+".Condition")
		if err != nil {
			p.d.add(err)
			continue
		}
		r.skipped = !v
	}
}

// readResources turns each created resource into its typed form.
func (p *parser) readResources(t *Template) {
	var apiKeys []*rawResource
	for _, id := range p.order {
		r := p.resources[id]
		if r.skipped {
			continue
		}
		switch r.typ {
		case TypeServerlessFunction, TypeLambdaFunction:
			if f, ok := p.readFunction(r); ok {
				t.Functions = append(t.Functions, f)
			}
		case TypeServerlessAPI, TypeServerlessHTTPAPI:
			if a, ok := p.readAPI(r); ok {
				t.APIs = append(t.APIs, a)
			}
		case TypeServerlessLayer:
			if l, ok := p.readLayer(r); ok {
				t.Layers = append(t.Layers, l)
			}
		case TypeDynamoDBTable:
			if tb, ok := p.readDynamoDBTable(r); ok {
				t.Tables = append(t.Tables, tb)
			}
		case TypeServerlessTable:
			if tb, ok := p.readSimpleTable(r); ok {
				t.Tables = append(t.Tables, tb)
			}
		case TypeS3Bucket:
			if b, ok := p.readBucket(r); ok {
				t.Buckets = append(t.Buckets, b)
			}
		case TypeSQSQueue:
			if q, ok := p.readQueue(r); ok {
				t.Queues = append(t.Queues, q)
			}
		case TypeSNSTopic:
			if tp, subs, ok := p.readTopic(r); ok {
				t.Topics = append(t.Topics, tp)
				t.Subscriptions = append(t.Subscriptions, subs...)
			}
		case TypeSNSSubscription:
			if s, ok := p.readSubscription(r); ok {
				t.Subscriptions = append(t.Subscriptions, s)
			}
		case TypeAPIKey:
			apiKeys = append(apiKeys, r)
		default:
			if rules, ok := propertyRules(r.typ); ok {
				p.checkProperties(obj{n: r.props, path: r.path + ".Properties"}, r.typ, rules)
			}
			p.d.warn(r.typNode, r.path, "resource type %s is not supported locally; %s skipped", r.typ, r.id)
		}
		if r.connectors != nil {
			p.warnIAM(lookup(r.node, "Connectors"), r.path+".Connectors")
		}
	}
	t.Queues = append(t.Queues, p.generatedQueues...)
	t.Topics = append(t.Topics, p.generatedTopics...)
	p.resolveRoutes(t)
	p.readAPIKeys(t, apiKeys)
	p.checkAuth(t)
	p.checkSQSEvents(t)
	p.checkS3Events(t)
}

// checkUnique rejects two resources that would land on the same key of the
// runtime config, where the later would silently replace the earlier.
func (p *parser) checkUnique(t *Template) {
	check := func(kind, name, id string, m map[string]string) {
		if prev, ok := m[name]; ok {
			r := p.resources[id]
			p.d.add(p.d.errf(r.node, r.path, "%s name %q is also used by %s", kind, name, prev))
			return
		}
		m[name] = id
	}
	fns, tables, buckets, layers := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	for _, f := range t.Functions {
		check("function", f.Name, f.LogicalID, fns)
	}
	for _, tb := range t.Tables {
		check("table", tb.TableName, tb.LogicalID, tables)
	}
	for _, b := range t.Buckets {
		check("bucket", b.BucketName, b.LogicalID, buckets)
	}
	for _, l := range t.Layers {
		check("layer", l.Name, l.LogicalID, layers)
	}
	queues, topics := map[string]string{}, map[string]string{}
	for _, q := range t.Queues {
		check("queue", q.QueueName, q.LogicalID, queues)
	}
	for _, tp := range t.Topics {
		check("topic", tp.TopicName, tp.LogicalID, topics)
	}
	// Each API has its own endpoint, so only a route repeated on the same
	// API is a clash (the transform refuses it too).
	routes := map[string]string{}
	for _, f := range t.Functions {
		for _, rt := range f.Routes {
			key := rt.Method + " " + rt.Path
			where, at, path := f.LogicalID+".Events."+rt.Event, rt.node, rt.OpenAPI
			if rt.OpenAPI == "" {
				r := p.resources[f.LogicalID]
				at, path = lookup(lookup(r.props, "Events"), rt.Event), r.path+".Properties.Events."+rt.Event
			} else {
				where = rt.OpenAPI
			}
			if prev, ok := routes[rt.API+" "+key]; ok {
				p.d.add(p.d.errf(at, path, "route %s of %s is also defined by %s", key, rt.API, prev))
				continue
			}
			routes[rt.API+" "+key] = where
		}
	}
}

// errNotCreated is wrapped when a reference names a resource whose
// Condition is false.
var errNotCreated = errors.New("resource is not created")
