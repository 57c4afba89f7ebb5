package sam

import (
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	tableNamePattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	bucketNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	layerNamePattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,140}$`)
)

// props returns the resource's properties (with the Globals section
// merged in when section is set) as an obj; an omitted Properties reads as
// empty.
func (p *parser) props(r *rawResource, section string) obj {
	n := r.props
	if section != "" {
		n = p.withGlobals(r, section)
	}
	if n == nil {
		n = emptyMap(r.node)
	}
	return obj{n: n, path: r.path + ".Properties"}
}

func (p *parser) readAPI(r *rawResource) (API, bool) {
	before := len(p.d.errs)
	section, defaultStage := "Api", ""
	if r.typ == TypeServerlessHTTPAPI {
		section, defaultStage = "HttpApi", "$default"
	}
	o := p.props(r, section)
	if rules, ok := propertyRules(r.typ); ok {
		p.checkProperties(o, r.typ, rules)
	}
	a := API{LogicalID: r.id, Type: r.typ, StageName: defaultStage}
	if v, ok := p.str(o, "Name"); ok {
		a.Name = v.s
	}
	if r.typ == TypeServerlessAPI {
		if v, ok := p.required(o, "StageName", ""); ok {
			a.StageName = v.s
		}
	} else if v, ok := p.str(o, "StageName"); ok {
		a.StageName = v.s
	}
	a.auth = p.readAPIAuth(o, r.typ)
	a.cors = p.readCors(o, r.typ)
	if lookup(o.n, "DefinitionBody") != nil || lookup(o.n, "DefinitionUri") != nil {
		merge := p.boolean(o, "MergeDefinitions")
		a.ownDocument = merge == nil || !*merge
	}
	p.openAPIRoutes(r, o, a)
	return a, len(p.d.errs) == before
}

// resolveRoutes gives each route the stage of its API, and each function
// the layers it references, now that all APIs and layers are read.
func (p *parser) resolveRoutes(t *Template) {
	stages := map[string]string{
		ImplicitRestAPI: p.implicitStage("Api", "Prod"),
		ImplicitHTTPAPI: p.implicitStage("HttpApi", "$default"),
	}
	for _, a := range t.APIs {
		stages[a.LogicalID] = a.StageName
	}
	layers := map[string]Layer{}
	for _, l := range t.Layers {
		layers[l.LogicalID] = l
	}
	byName := map[string]int{}
	for i, f := range t.Functions {
		byName[f.Name] = i
	}
	documented := map[string]bool{} // "api method path" of OpenAPI operations
	for _, or := range p.openAPI {
		documented[or.route.API+" "+or.route.Method+" "+or.route.Path] = true
		i, ok := byName[or.function]
		if !ok {
			p.d.warn(or.at, or.path, "%s %s invokes function %s, which this template does not define; not served", or.route.Method, or.route.Path, quote(or.function))
			continue
		}
		t.Functions[i].Routes = append(t.Functions[i].Routes, or.route)
	}
	// The transform adds events to the OpenAPI document only of the APIs
	// it writes the document for: where the template brings its own (and
	// does not ask for MergeDefinitions), API Gateway routes what the
	// document says, and an event only grants the invoke permission.
	own := map[string]bool{}
	for _, a := range t.APIs {
		own[a.LogicalID] = a.ownDocument
	}
	for i := range t.Functions {
		f := &t.Functions[i]
		kept := f.Routes[:0]
		for _, rt := range f.Routes {
			if rt.OpenAPI != "" || !own[rt.API] {
				kept = append(kept, rt)
				continue
			}
			if !documented[rt.API+" "+rt.Method+" "+rt.Path] {
				r := p.resources[f.LogicalID]
				at := lookup(lookup(r.props, "Events"), rt.Event)
				p.d.warn(at, r.path+".Properties.Events."+rt.Event, "%s %s is not in the OpenAPI document of %s, so API Gateway does not route it (the transform adds events only to documents it writes); not served", rt.Method, rt.Path, rt.API)
			}
		}
		f.Routes = kept
	}
	for i := range t.Functions {
		f := &t.Functions[i]
		for j := range f.Routes {
			f.Routes[j].Stage = stages[f.Routes[j].API]
		}
		for _, id := range p.fnLayers[f.LogicalID] {
			if l, ok := layers[id]; ok {
				f.Layers = append(f.Layers, l)
			}
		}
	}
}

// implicitStage is the stage of the API SAM creates for events that name
// none: Globals may set it, else SAM's default.
func (p *parser) implicitStage(section, def string) string {
	g := p.globals[section]
	if g == nil {
		return def
	}
	if v, ok := p.str(obj{n: g, path: "Globals." + section}, "StageName"); ok {
		return v.s
	}
	return def
}

func (p *parser) readLayer(r *rawResource) (Layer, bool) {
	before := len(p.d.errs)
	o := p.props(r, "LayerVersion")
	if rules, ok := propertyRules(r.typ); ok {
		p.checkProperties(o, r.typ, rules)
	}
	l := Layer{LogicalID: r.id, Name: r.id}
	if v, ok := p.str(o, "LayerName"); ok {
		if !layerNamePattern.MatchString(v.s) {
			p.d.add(p.d.errf(v.n, v.path, "invalid layer name %s (1 to 140 letters, digits, '-' or '_')", quote(v.s)))
		}
		l.Name = v.s
	}
	raw := lookup(o.n, "ContentUri")
	v, path := p.field(o, "ContentUri")
	switch {
	case raw == nil || v == nil:
		if len(p.d.errs) == before {
			p.d.add(p.d.errf(o.n, o.path+".ContentUri", "required (the directory holding the layer's content)"))
		}
	case v.Kind == yaml.MappingNode:
		p.d.add(p.d.errf(v, path, "S3 locations are not supported; ESB builds from local directories (give a path relative to the template)"))
	case v.Kind != yaml.ScalarNode:
		p.d.add(p.d.errf(v, path, "want a directory path, got %s", describe(v)))
	default:
		if dir, ok := p.localDir(value{s: v.Value, n: v, path: path}); ok {
			l.ContentDir = dir
			l.ContentURI = filepath.ToSlash(filepath.Clean(v.Value))
		}
	}
	if vs, ok := p.strList(o, "CompatibleRuntimes"); ok {
		l.CompatibleRuntimes = strs(vs)
	}
	if bm := deref(lookup(r.metadata, "BuildMethod")); bm != nil && bm.Kind == yaml.ScalarNode {
		l.BuildMethod = bm.Value
	}
	return l, len(p.d.errs) == before
}

func (p *parser) tableName(r *rawResource, o obj) string {
	v, ok := p.str(o, "TableName")
	if !ok {
		return r.id
	}
	if !tableNamePattern.MatchString(v.s) {
		p.d.add(p.d.errf(v.n, v.path, "invalid table name %s (3 to 255 letters, digits, '_', '-' or '.')", quote(v.s)))
	}
	return v.s
}

func (p *parser) readDynamoDBTable(r *rawResource) (Table, bool) {
	before := len(p.d.errs)
	o := p.props(r, "")
	t := Table{LogicalID: r.id, Type: r.typ}
	t.TableName = p.tableName(r, o)
	t.KeySchema = p.keySchema(o, true)
	for _, a := range p.objects(o, "AttributeDefinitions") {
		name, ok1 := p.required(a, "AttributeName", "")
		typ, ok2 := p.required(a, "AttributeType", "")
		if ok1 && ok2 && p.oneOf(typ, "S", "N", "B") {
			t.AttributeDefinitions = append(t.AttributeDefinitions, runtimeconfig.AttributeDefinition{AttributeName: name.s, AttributeType: typ.s})
		}
	}
	if lookup(o.n, "AttributeDefinitions") == nil {
		p.d.add(p.d.errf(o.n, o.path+".AttributeDefinitions", "required"))
	}
	t.BillingMode = "PROVISIONED"
	if v, ok := p.str(o, "BillingMode"); ok && p.oneOf(v, "PROVISIONED", "PAY_PER_REQUEST") {
		t.BillingMode = v.s
	}
	t.ProvisionedThroughput = p.throughput(o, t.BillingMode)
	for _, g := range p.objects(o, "GlobalSecondaryIndexes") {
		t.GlobalSecondaryIndexes = append(t.GlobalSecondaryIndexes, p.index(g, t.BillingMode, true))
	}
	for _, l := range p.objects(o, "LocalSecondaryIndexes") {
		t.LocalSecondaryIndexes = append(t.LocalSecondaryIndexes, p.index(l, t.BillingMode, false))
	}
	t.StreamSpecification = p.plain(o, "StreamSpecification")
	t.TimeToLiveSpecification = p.plain(o, "TimeToLiveSpecification")
	if len(p.d.errs) == before {
		p.checkKeyAttributes(o, t)
	}
	return t, len(p.d.errs) == before
}

// checkKeyAttributes applies DynamoDB's CreateTable rule: every key
// attribute is defined, and every defined attribute is a key of the table
// or of an index.
func (p *parser) checkKeyAttributes(o obj, t Table) {
	used := map[string]bool{}
	for _, k := range t.KeySchema {
		used[k.AttributeName] = true
	}
	for _, ix := range append(append([]runtimeconfig.SecondaryIndex{}, t.GlobalSecondaryIndexes...), t.LocalSecondaryIndexes...) {
		for _, k := range ix.KeySchema {
			used[k.AttributeName] = true
		}
	}
	defined := map[string]bool{}
	at := lookup(o.n, "AttributeDefinitions")
	for _, a := range t.AttributeDefinitions {
		defined[a.AttributeName] = true
		if !used[a.AttributeName] {
			p.d.add(p.d.errf(at, o.path+".AttributeDefinitions", "attribute %q is defined but is not a key of the table or of an index (DynamoDB rejects that)", a.AttributeName))
		}
	}
	for name := range used {
		if !defined[name] {
			p.d.add(p.d.errf(at, o.path+".AttributeDefinitions", "key attribute %q has no AttributeDefinition", name))
		}
	}
}

func (p *parser) keySchema(o obj, required bool) []runtimeconfig.KeySchemaElement {
	if lookup(o.n, "KeySchema") == nil {
		if required {
			p.d.add(p.d.errf(o.n, o.path+".KeySchema", "required"))
		}
		return nil
	}
	var out []runtimeconfig.KeySchemaElement
	items := p.objects(o, "KeySchema")
	for i, k := range items {
		name, ok1 := p.required(k, "AttributeName", "")
		typ, ok2 := p.required(k, "KeyType", "")
		if !ok1 || !ok2 || !p.oneOf(typ, "HASH", "RANGE") {
			continue
		}
		if (i == 0) != (typ.s == "HASH") {
			p.d.add(p.d.errf(typ.n, typ.path, "the first key must be HASH and the second RANGE"))
			continue
		}
		out = append(out, runtimeconfig.KeySchemaElement{AttributeName: name.s, KeyType: typ.s})
	}
	if len(items) == 0 || len(items) > 2 {
		raw := lookup(o.n, "KeySchema")
		p.d.add(p.d.errf(raw, p.pathOf(raw, o.path+".KeySchema"), "want one HASH key and at most one RANGE key, got %d keys", len(items)))
	}
	return out
}

func (p *parser) throughput(o obj, billing string) *runtimeconfig.ProvisionedThroughput {
	pt, ok := p.object(o, "ProvisionedThroughput")
	if !ok {
		if billing == "PROVISIONED" && lookup(o.n, "ProvisionedThroughput") == nil {
			p.d.add(p.d.errf(o.n, o.path+".ProvisionedThroughput", "required unless BillingMode is PAY_PER_REQUEST"))
		}
		return nil
	}
	if billing == "PAY_PER_REQUEST" {
		p.d.add(p.d.errf(pt.n, pt.path, "not allowed with BillingMode PAY_PER_REQUEST"))
		return nil
	}
	for _, key := range []string{"ReadCapacityUnits", "WriteCapacityUnits"} {
		if lookup(pt.n, key) == nil {
			p.d.add(p.d.errf(pt.n, pt.path+"."+key, "required"))
		}
	}
	return &runtimeconfig.ProvisionedThroughput{
		ReadCapacityUnits:  int64(p.integer(pt, "ReadCapacityUnits", 0, 1, maxConcurrency)),
		WriteCapacityUnits: int64(p.integer(pt, "WriteCapacityUnits", 0, 1, maxConcurrency)),
	}
}

func (p *parser) index(o obj, billing string, global bool) runtimeconfig.SecondaryIndex {
	ix := runtimeconfig.SecondaryIndex{KeySchema: p.keySchema(o, true)}
	if v, ok := p.required(o, "IndexName", ""); ok {
		ix.IndexName = v.s
	}
	if proj, ok := p.object(o, "Projection"); ok {
		if v, ok := p.str(proj, "ProjectionType"); ok && p.oneOf(v, "ALL", "KEYS_ONLY", "INCLUDE") {
			ix.Projection.ProjectionType = v.s
		}
		if vs, ok := p.strList(proj, "NonKeyAttributes"); ok {
			ix.Projection.NonKeyAttributes = strs(vs)
		}
	} else if lookup(o.n, "Projection") == nil {
		p.d.add(p.d.errf(o.n, o.path+".Projection", "required"))
	}
	if global {
		ix.ProvisionedThroughput = p.throughput(o, billing)
	}
	return ix
}

func (p *parser) readSimpleTable(r *rawResource) (Table, bool) {
	before := len(p.d.errs)
	o := p.props(r, "SimpleTable")
	if rules, ok := propertyRules(r.typ); ok {
		p.checkProperties(o, r.typ, rules)
	}
	t := Table{LogicalID: r.id, Type: r.typ}
	t.TableName = p.tableName(r, o)
	name, typ := "id", "S"
	if pk, ok := p.object(o, "PrimaryKey"); ok {
		if v, ok := p.str(pk, "Name"); ok {
			name = v.s
		}
		if v, ok := p.str(pk, "Type"); ok && p.oneOf(v, "String", "Number", "Binary") {
			typ = v.s[:1]
		}
	}
	t.KeySchema = []runtimeconfig.KeySchemaElement{{AttributeName: name, KeyType: "HASH"}}
	t.AttributeDefinitions = []runtimeconfig.AttributeDefinition{{AttributeName: name, AttributeType: typ}}
	t.BillingMode = "PAY_PER_REQUEST"
	if lookup(o.n, "ProvisionedThroughput") != nil {
		t.BillingMode = "PROVISIONED"
		t.ProvisionedThroughput = p.throughput(o, t.BillingMode)
	}
	return t, len(p.d.errs) == before
}

func (p *parser) readBucket(r *rawResource) (Bucket, bool) {
	before := len(p.d.errs)
	o := p.props(r, "")
	b := Bucket{LogicalID: r.id, BucketName: strings.ToLower(r.id)}
	if v, ok := p.str(o, "BucketName"); ok {
		if !bucketNamePattern.MatchString(v.s) || strings.Contains(v.s, "..") {
			p.d.add(p.d.errf(v.n, v.path, "invalid bucket name %s (3 to 63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit)", quote(v.s)))
		}
		b.BucketName = v.s
	}
	b.LifecycleConfiguration = p.plain(o, "LifecycleConfiguration")
	for _, kv := range pairs(o.n) {
		switch kv.key {
		case "BucketName", "LifecycleConfiguration", "Tags":
		case "NotificationConfiguration":
			p.bucketNotifications(o, &b)
		default:
			if !isNull(kv.val) {
				p.d.warn(kv.knode, joinPath(o.path, kv.key), "%s is not applied by the env's S3 service (versitygw); the bucket is created without it", kv.key)
			}
		}
	}
	return b, len(p.d.errs) == before
}
