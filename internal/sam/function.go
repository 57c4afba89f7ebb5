package sam

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"gopkg.in/yaml.v3"
)

// Lambda's limits, checked here because AWS would reject the template.
const (
	defaultTimeout    = 3
	defaultMemorySize = 128
	maxTimeout        = 900
	minMemorySize     = 128
	maxMemorySize     = 10240
	// Lambda's bounds of EphemeralStorage.Size (MB); its default, 512, is
	// the agent's when a template gives none.
	minEphemeralStorage = 512
	maxEphemeralStorage = 10240
	maxLayers           = 5
	// maxConcurrency bounds ReservedConcurrentExecutions and
	// ProvisionedConcurrentExecutions: ten times Lambda's default account
	// limit, beyond what one node runs (the agent further refuses min_warm
	// past its memory budget and ESB_ACCOUNT_CONCURRENCY).
	maxConcurrency = 10000
)

var (
	functionNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	envKeyPattern       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// reservedEnv are the variables the Lambda runtime sets itself; Lambda
// rejects functions that set them.
func reservedEnv(key string) bool {
	switch key {
	case "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
		"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR":
		return true
	}
	return false
}

func (p *parser) readFunction(r *rawResource) (Function, bool) {
	before := len(p.d.errs)
	serverless := r.typ == TypeServerlessFunction
	props := r.props
	if serverless {
		props = p.withGlobals(r, "Function")
	}
	o := obj{n: props, path: r.path + ".Properties"}
	if o.n == nil {
		o.n = emptyMap(r.node)
	}
	f := Function{LogicalID: r.id, Type: r.typ, Name: r.id, PackageType: PackageZip}
	if rules, ok := propertyRules(r.typ); ok {
		p.checkProperties(o, r.typ, rules)
	}

	if v, ok := p.str(o, "FunctionName"); ok {
		if !functionNamePattern.MatchString(v.s) {
			p.d.add(p.d.errf(v.n, v.path, "invalid function name %s (1 to 64 letters, digits, '-' or '_')", quote(v.s)))
		}
		f.Name = v.s
	}
	if v, ok := p.str(o, "PackageType"); ok && p.oneOf(v, PackageZip, PackageImage) {
		f.PackageType = v.s
	}
	f.Timeout = p.integer(o, "Timeout", defaultTimeout, 1, maxTimeout)
	f.MemorySize = p.integer(o, "MemorySize", defaultMemorySize, minMemorySize, maxMemorySize)
	if es, ok := p.object(o, "EphemeralStorage"); ok {
		if _, ok := p.required(es, "Size", ""); ok {
			f.EphemeralStorage = p.integer(es, "Size", 0, minEphemeralStorage, maxEphemeralStorage)
		}
	}
	f.Architectures = p.architectures(o)
	f.Environment = p.environment(o)
	f.ReservedConcurrency = p.integer(o, "ReservedConcurrentExecutions", 0, 0, maxConcurrency)
	if v, path := p.field(o, "ReservedConcurrentExecutions"); v != nil && f.ReservedConcurrency == 0 && v.Value == "0" {
		p.d.warn(v, path, "0 stops every invocation on AWS; ESB does not throttle to zero and runs the function without a limit")
	}
	if pc, ok := p.object(o, "ProvisionedConcurrencyConfig"); ok {
		if lookup(pc.n, "ProvisionedConcurrentExecutions") == nil {
			p.d.add(p.d.errf(pc.n, pc.path+".ProvisionedConcurrentExecutions", "required"))
		}
		f.ProvisionedConcurrency = p.integer(pc, "ProvisionedConcurrentExecutions", 0, 1, maxConcurrency)
		if v, path := p.field(pc, "ProvisionedConcurrentExecutions"); v != nil && f.ReservedConcurrency > 0 && f.ProvisionedConcurrency > f.ReservedConcurrency {
			// As AWS refuses it: provisioned instances beyond the reservation could never all run.
			p.d.add(p.d.errf(v, path, "%d is more than ReservedConcurrentExecutions (%d)", f.ProvisionedConcurrency, f.ReservedConcurrency))
		}
	}

	switch {
	case f.PackageType == PackageImage && serverless:
		p.serverlessImage(r, o, &f)
	case f.PackageType == PackageImage:
		p.lambdaImage(o, &f)
	case serverless:
		// With both set, the transform takes InlineCode.
		if v, ok := p.str(o, "InlineCode"); ok {
			f.InlineCode = v.s
			break
		}
		p.zipCode(o, "CodeUri", &f)
		if bm := deref(lookup(r.metadata, "BuildMethod")); bm != nil && bm.Kind == yaml.ScalarNode {
			f.BuildMethod = bm.Value
		}
	default:
		p.lambdaZip(o, &f)
	}
	if f.PackageType == PackageZip {
		p.runtimeAndHandler(o, &f)
		p.inlineFile(o, &f)
		p.layers(o, &f)
	} else if raw := lookup(o.n, "Layers"); raw != nil {
		p.d.add(p.d.errf(raw, p.pathOf(raw, o.path+".Layers"), "Image functions cannot have layers; install the layer's content in the image"))
	}
	p.loggingConfig(o, &f)
	if serverless {
		p.asyncConfig(o, &f)
		p.functionURL(o, &f)
	}
	p.warnDynamicReferences(o.n, o.path)
	if serverless {
		p.events(r, obj{n: lookup(o.n, "Events"), path: o.path + ".Events"}, &f)
	}
	return f, len(p.d.errs) == before
}

func (p *parser) architectures(o obj) []string {
	vs, ok := p.strList(o, "Architectures")
	if !ok || vs == nil {
		return nil
	}
	if len(vs) != 1 {
		raw := lookup(o.n, "Architectures")
		p.d.add(p.d.errf(raw, p.pathOf(raw, o.path+".Architectures"), "want exactly one architecture (x86_64 or arm64), got %d", len(vs)))
		return nil
	}
	if !p.oneOf(vs[0], "x86_64", "arm64") {
		return nil
	}
	return strs(vs)
}

func (p *parser) environment(o obj) map[string]string {
	env, ok := p.object(o, "Environment")
	if !ok {
		return nil
	}
	vars, ok := p.object(env, "Variables")
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, kv := range pairs(vars.n) {
		path := p.pathOf(kv.val, joinPath(vars.path, kv.key))
		switch {
		case !envKeyPattern.MatchString(kv.key):
			p.d.add(p.d.errf(kv.knode, path, "invalid environment variable name (letters, digits and '_', starting with a letter)"))
			continue
		case reservedEnv(kv.key):
			p.d.add(p.d.errf(kv.knode, path, "%s is reserved by the Lambda runtime", kv.key))
			continue
		}
		v := deref(kv.val)
		switch {
		case isNull(v):
			out[kv.key] = ""
		case v.Kind == yaml.ScalarNode:
			out[kv.key] = v.Value
		default:
			p.d.add(p.d.errf(v, path, "want a string, got %s", describe(v)))
		}
	}
	return out
}

// warnDynamicReferences warns about each {{resolve:...}} in a function's
// properties: CloudFormation replaces them with the value stored in SSM
// or Secrets Manager, which ESB has not, so the function would see the
// text as written.
func (p *parser) warnDynamicReferences(n *yaml.Node, path string) {
	n = deref(n)
	if n == nil {
		return
	}
	path = p.pathOf(n, path)
	switch n.Kind {
	case yaml.ScalarNode:
		if i := strings.Index(n.Value, "{{resolve:"); i >= 0 {
			ref := n.Value[i:]
			if j := strings.Index(ref, "}}"); j >= 0 {
				ref = ref[:j+2]
			}
			p.d.warn(n, path, "dynamic reference %s is not resolved locally (no SSM Parameter Store or Secrets Manager); the function gets the text as written", quote(ref))
		}
	case yaml.MappingNode:
		for _, kv := range pairs(n) {
			p.warnDynamicReferences(kv.val, joinPath(path, kv.key))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.warnDynamicReferences(c, indexPath(path, i))
		}
	}
}

// loggingConfig passes LoggingConfig to the runtime as Lambda does, through
// AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL (which ESB's Python
// runtime client reads); what cannot apply locally is warned about.
func (p *parser) loggingConfig(o obj, f *Function) {
	lc, ok := p.object(o, "LoggingConfig")
	if !ok {
		return
	}
	format := "Text"
	if v, ok := p.str(lc, "LogFormat"); ok && p.oneOf(v, "Text", "JSON") {
		format = v.s
	}
	set := func(k, v string) {
		if f.Environment == nil {
			f.Environment = map[string]string{}
		}
		f.Environment[k] = v
	}
	if format == "JSON" {
		if rt, ok := runtimecatalog.Lookup(f.Runtime); ok && rt.Family != runtimecatalog.FamilyPython {
			v, _ := p.str(lc, "LogFormat")
			p.d.warn(v.n, v.path, "not applied locally: ESB's %s runtime client writes logs as text, not JSON", rt.Family)
		}
		set("AWS_LAMBDA_LOG_FORMAT", "JSON")
		if v, ok := p.str(lc, "ApplicationLogLevel"); ok {
			set("AWS_LAMBDA_LOG_LEVEL", strings.ToUpper(v.s))
		}
	}
	for _, key := range []string{"LogGroup", "SystemLogLevel"} {
		if v, ok := p.str(lc, key); ok {
			p.d.warn(v.n, v.path, "not applied locally: function output goes to ESB's log store, and the runtime's own lines are always written")
		}
	}
}

// zipCode reads a code directory property (CodeUri, or a Lambda::Function's
// Code given as a path, as `sam build` accepts).
func (p *parser) zipCode(o obj, key string, f *Function) {
	raw := lookup(o.n, key)
	if raw == nil {
		// The SAM CLI builds from the template's directory when CodeUri is
		// missing.
		f.CodeDir = p.dir
		return
	}
	v, path := p.field(o, key)
	if v == nil {
		f.CodeDir = p.dir
		return
	}
	if v.Kind == yaml.MappingNode {
		p.d.add(p.d.errf(v, path, "S3 locations are not supported; ESB builds from local directories (give a path relative to the template)"))
		return
	}
	if v.Kind != yaml.ScalarNode {
		p.d.add(p.d.errf(v, path, "want a directory path, got %s", describe(v)))
		return
	}
	loc := value{s: v.Value, n: v, path: path}
	if isArchive(v.Value) {
		if archive, ok := p.localArchive(loc); ok {
			f.CodeArchive = archive
		}
		return
	}
	if file, ok := p.singleFile(loc); ok {
		f.CodeFile = file
		return
	}
	if dir, ok := p.localDir(loc); ok {
		f.CodeDir = dir
	}
}

// singleFile resolves a code location that names one source file (not an
// archive): `sam package` zips such a file alone into the package. ok is
// false for anything else, which localDir then reports.
func (p *parser) singleFile(v value) (string, bool) {
	full := v.s
	if !filepath.IsAbs(full) {
		full = filepath.Join(p.dir, filepath.FromSlash(v.s))
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() || !within(p.dir, real) {
		return "", false
	}
	return real, true
}

// isArchive reports a code location that names a deployment package
// rather than a directory.
func isArchive(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".zip" || ext == ".jar"
}

// localArchive resolves a .zip or .jar named in the template: it must be a
// readable zip archive inside the template's directory.
func (p *parser) localArchive(v value) (string, bool) {
	if strings.Contains(v.s, "://") {
		p.d.add(p.d.errf(v.n, v.path, "%s: remote locations are not supported; ESB deploys local files and directories", quote(v.s)))
		return "", false
	}
	full := v.s
	if !filepath.IsAbs(full) {
		full = filepath.Join(p.dir, filepath.FromSlash(v.s))
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if os.IsNotExist(err) {
			p.d.add(p.d.errf(v.n, v.path, "archive %s does not exist (build it first, or point at the code directory)", quote(v.s)))
		} else {
			p.d.add(p.d.errorAt(v.n, v.path, err))
		}
		return "", false
	}
	if !within(p.dir, real) {
		p.d.add(p.d.errf(v.n, v.path, "%s is outside the template's directory (symlinks followed); move it under it", quote(v.s)))
		return "", false
	}
	zr, err := zip.OpenReader(real)
	if err != nil {
		p.d.add(p.d.errf(v.n, v.path, "%s is not a readable zip archive: %s", quote(v.s), err.Error()))
		return "", false
	}
	zr.Close()
	return real, true
}

// inlineFile names the file inline code is written to: CloudFormation's
// index.py or index.js (a CommonJS module). It takes inline code for
// Python and Node.js only.
func (p *parser) inlineFile(o obj, f *Function) {
	if f.InlineCode == "" {
		return
	}
	if _, ok := runtimecatalog.Lookup(f.Runtime); !ok {
		return // the runtime is already reported
	}
	if f.InlineFile = inlineName(f.Runtime); f.InlineFile == "" {
		key := "InlineCode"
		if f.Type == TypeLambdaFunction {
			key = "Code.ZipFile"
		}
		raw := lookup(o.n, "InlineCode")
		if raw == nil {
			raw = lookup(lookup(o.n, "Code"), "ZipFile")
		}
		p.d.add(p.d.errf(raw, o.path+"."+key, "inline code needs a Python or Node.js runtime (CloudFormation writes it to index.py or index.js), not %s", f.Runtime))
	}
}

// localDir resolves a directory named in the template. It must exist and,
// after symlinks are followed, stay inside the template's directory: the
// deploy pipeline ships only that directory to the build engine.
func (p *parser) localDir(v value) (string, bool) {
	rel := v.s
	switch {
	case rel == "":
		p.d.add(p.d.errf(v.n, v.path, "empty path"))
		return "", false
	case strings.HasPrefix(rel, "s3://"), strings.HasPrefix(rel, "https://"), strings.HasPrefix(rel, "http://"):
		p.d.add(p.d.errf(v.n, v.path, "%s: remote locations are not supported; ESB builds from local directories", quote(rel)))
		return "", false
	}
	full := rel
	if !filepath.IsAbs(full) {
		full = filepath.Join(p.dir, filepath.FromSlash(rel))
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if os.IsNotExist(err) {
			p.d.add(p.d.errf(v.n, v.path, "directory %s does not exist", quote(rel)))
		} else {
			p.d.add(p.d.errorAt(v.n, v.path, err))
		}
		return "", false
	}
	fi, err := os.Stat(real)
	if err != nil {
		p.d.add(p.d.errorAt(v.n, v.path, err))
		return "", false
	}
	if !fi.IsDir() {
		p.d.add(p.d.errf(v.n, v.path, "%s is neither a directory nor a .zip or .jar deployment package", quote(rel)))
		return "", false
	}
	if !within(p.dir, real) {
		p.d.add(p.d.errf(v.n, v.path, "%s is outside the template's directory (symlinks followed); move the code under it", quote(rel)))
		return "", false
	}
	return real, true
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (p *parser) runtimeAndHandler(o obj, f *Function) {
	if v, ok := p.required(o, "Runtime", " for Zip functions"); ok {
		res, err := runtimecatalog.Resolve(v.s, p.opts.RuntimeAliases, p.opts.Now)
		if err != nil {
			p.d.add(p.d.errorAt(v.n, v.path, err))
		} else {
			f.Runtime = res.Runtime.Name
			for _, w := range res.Warnings {
				p.d.warn(v.n, v.path, "%s", w)
			}
		}
	}
	if v, ok := p.required(o, "Handler", " for Zip functions"); ok {
		f.Handler = v.s
		p.checkHandlerFile(v, f)
	}
}

// checkHandlerFile warns when the handler's file is missing from the code
// directory: the function would deploy and then fail on its first call.
// Builds (Metadata.BuildMethod) create files, so they are not checked.
func (p *parser) checkHandlerFile(v value, f *Function) {
	rt, ok := runtimecatalog.Lookup(f.Runtime)
	// A Java handler names a class, which a jar, a lib/ jar or sources
	// compiled at deploy time may hold: the file cannot be checked here.
	if !ok || f.BuildMethod != "" || rt.Family == runtimecatalog.FamilyJava {
		return
	}
	dot := strings.LastIndex(v.s, ".")
	if rt.Family == runtimecatalog.FamilyRuby {
		// file.method or file.Module::Class.method: the file is before the
		// first dot.
		dot = strings.Index(v.s, ".")
	}
	if dot <= 0 {
		if rt.Family != runtimecatalog.FamilyProvided {
			p.d.add(p.d.errf(v.n, v.path, "handler %s: want module.function", quote(v.s)))
		}
		return
	}
	module := v.s[:dot]
	var candidates []string
	switch rt.Family {
	case runtimecatalog.FamilyPython:
		m := strings.ReplaceAll(module, ".", "/")
		candidates = []string{m + ".py", m + "/__init__.py"}
	case runtimecatalog.FamilyNodejs:
		candidates = []string{module + ".js", module + ".mjs", module + ".cjs"}
	case runtimecatalog.FamilyRuby:
		candidates = []string{module + ".rb"}
	default:
		return
	}
	exists, where, ok := p.codeFiles(f)
	if !ok {
		return
	}
	for _, c := range candidates {
		if exists(c) {
			return
		}
	}
	p.d.warn(v.n, v.path, "handler file not found: looked for %s in %s", strings.Join(candidates, ", "), where)
}

// codeFiles returns a test for a file of the function's package (a
// slash-separated path) and how to name the package in a message; ok is
// false when there is nothing to look into.
func (p *parser) codeFiles(f *Function) (exists func(string) bool, where string, ok bool) {
	rel := func(path string) string {
		r, err := filepath.Rel(p.dir, path)
		if err != nil {
			return path
		}
		return filepath.ToSlash(r)
	}
	switch {
	case f.InlineCode != "":
		name := inlineName(f.Runtime)
		return func(c string) bool { return c == name }, "the inline code (CloudFormation writes it to " + name + ")", true
	case f.CodeArchive != "":
		zr, err := zip.OpenReader(f.CodeArchive)
		if err != nil {
			return nil, "", false
		}
		defer zr.Close()
		names := map[string]bool{}
		for _, zf := range zr.File {
			names[strings.TrimPrefix(zf.Name, "./")] = true
		}
		return func(c string) bool { return names[c] }, rel(f.CodeArchive), true
	case f.CodeFile != "":
		name := filepath.Base(f.CodeFile)
		return func(c string) bool { return c == name }, rel(f.CodeFile), true
	case f.CodeDir != "":
		return func(c string) bool {
			fi, err := os.Stat(filepath.Join(f.CodeDir, filepath.FromSlash(c)))
			return err == nil && !fi.IsDir()
		}, rel(f.CodeDir), true
	}
	return nil, "", false
}

// inlineName is the file CloudFormation writes inline code to for a
// runtime, or "" when the runtime takes no inline code.
func inlineName(runtime string) string {
	rt, _ := runtimecatalog.Lookup(runtime)
	switch rt.Family {
	case runtimecatalog.FamilyPython:
		return "index.py"
	case runtimecatalog.FamilyNodejs:
		return "index.js"
	}
	return ""
}

func (p *parser) layers(o obj, f *Function) {
	vs, _ := p.strList(o, "Layers")
	if len(vs) > maxLayers {
		p.d.add(p.d.errf(vs[0].n, vs[0].path, "a function can have at most %d layers, got %d", maxLayers, len(vs)))
		return
	}
	for _, v := range vs {
		id, ok := p.localLayer(v.s)
		if !ok {
			p.d.warn(v.n, v.path, "layer %s is not defined in this template and cannot be fetched locally; skipped", quote(v.s))
			continue
		}
		p.fnLayers[f.LogicalID] = append(p.fnLayers[f.LogicalID], id)
	}
}

// localLayer maps a layer ARN back to the LayerVersion of this template
// that Ref produced it from, however the reference was written
// (!Ref, !If, !Sub...).
func (p *parser) localLayer(arn string) (string, bool) {
	for _, id := range p.order {
		r := p.resources[id]
		if r.typ != TypeServerlessLayer || r.skipped {
			continue
		}
		if ref, err := p.refResource(nil, id, r.path); err == nil && ref == arn {
			return id, true
		}
	}
	return "", false
}

func (p *parser) serverlessImage(r *rawResource, o obj, f *Function) {
	if v, ok := p.str(o, "ImageUri"); ok {
		f.ImageURI = v.s
		return
	}
	m := obj{n: r.metadata, path: r.path + ".Metadata"}
	ctx, hasCtx := p.str(m, "DockerContext")
	file, hasFile := p.str(m, "Dockerfile")
	if !hasCtx && !hasFile {
		p.d.add(p.d.errf(r.typNode, r.path, "PackageType Image needs Properties.ImageUri, or Metadata.Dockerfile and Metadata.DockerContext to build the image"))
		return
	}
	if !hasCtx {
		p.d.add(p.d.errf(r.metadata, m.path+".DockerContext", "required with Dockerfile"))
		return
	}
	if !hasFile {
		p.d.add(p.d.errf(r.metadata, m.path+".Dockerfile", "required with DockerContext"))
		return
	}
	dir, ok := p.localDir(ctx)
	if !ok {
		return
	}
	df := filepath.Join(dir, filepath.FromSlash(file.s))
	if fi, err := os.Stat(df); err != nil || fi.IsDir() {
		p.d.add(p.d.errf(file.n, file.path, "Dockerfile %s not found in DockerContext %s", quote(file.s), quote(ctx.s)))
		return
	}
	// The build reads the Dockerfile from the context it sends: one outside
	// it (../, an absolute path, a symlink out) would read host files.
	if real, err := filepath.EvalSymlinks(df); err != nil || !within(dir, real) {
		p.d.add(p.d.errf(file.n, file.path, "Dockerfile %s is outside DockerContext %s", quote(file.s), quote(ctx.s)))
		return
	}
	f.DockerContext, f.Dockerfile = dir, file.s
	if tag, ok := p.str(m, "DockerTag"); ok {
		f.DockerTag = tag.s
	}
}

func (p *parser) lambdaImage(o obj, f *Function) {
	code, ok := p.object(o, "Code")
	if !ok {
		p.d.add(p.d.errf(o.n, o.path+".Code", "required: {ImageUri: ...} for PackageType Image"))
		return
	}
	if v, ok := p.required(code, "ImageUri", " for PackageType Image"); ok {
		f.ImageURI = v.s
	}
}

func (p *parser) lambdaZip(o obj, f *Function) {
	raw := lookup(o.n, "Code")
	if raw == nil {
		p.d.add(p.d.errf(o.n, o.path+".Code", "required"))
		return
	}
	if isMap(raw) {
		code, ok := p.object(o, "Code")
		if !ok {
			return
		}
		switch {
		case lookup(code.n, "ZipFile") != nil:
			if v, ok := p.str(code, "ZipFile"); ok {
				f.InlineCode = v.s
			}
		default:
			p.d.add(p.d.errf(code.n, code.path, "S3 locations are not supported; ESB builds from local directories (give a path relative to the template)"))
		}
		return
	}
	p.zipCode(o, "Code", f)
}

func (p *parser) events(r *rawResource, evs obj, f *Function) {
	if evs.n == nil {
		return
	}
	if !isMap(evs.n) {
		p.d.add(p.d.errf(evs.n, evs.path, "want a mapping of events, got %s", describe(evs.n)))
		return
	}
	for _, kv := range pairs(evs.n) {
		path := joinPath(evs.path, kv.key)
		if !isMap(kv.val) {
			p.d.add(p.d.errf(kv.val, path, "want a mapping with Type and Properties, got %s", describe(kv.val)))
			continue
		}
		ev := obj{n: deref(kv.val), path: path}
		typ, ok := p.required(ev, "Type", "")
		if !ok {
			continue
		}
		props := obj{n: lookup(ev.n, "Properties"), path: path + ".Properties"}
		if props.n == nil {
			props.n = emptyMap(ev.n)
		}
		switch typ.s {
		case EventAPI:
			p.apiEvent(kv.key, props, f)
		case EventHTTPAPI:
			p.httpAPIEvent(kv.key, props, f)
		case "Schedule":
			p.scheduleEvent(kv.key, props, "Schedule", "Enabled", f)
		case "ScheduleV2":
			p.scheduleEvent(kv.key, props, "ScheduleExpression", "", f)
		case EventSQS:
			p.sqsEvent(kv.key, props, f)
		case EventSNS:
			p.snsEvent(kv.key, props, f)
		case EventS3:
			p.s3Event(kv.key, props, f)
		// The rest are errors, not warnings: the template relies on the
		// event source, and deploying it without would leave the function
		// never invoked by it while the deploy looked fine.
		case "DynamoDB", "Kinesis":
			p.d.add(p.d.errf(typ.n, typ.path, "event type %s is not supported locally: the env has no %s streams (its DynamoDB service, dynalite, has none, and there is no Kinesis), so %s of %s would never run; remove the event (or deploy the function without it)",
				typ.s, typ.s, kv.key, r.id))
		default:
			p.d.add(p.d.errf(typ.n, typ.path, "event type %s is not supported locally: nothing in the env would send it, so %s of %s would never run; supported: Api, HttpApi, Schedule, ScheduleV2, SQS, SNS, S3; remove the event (or deploy the function without it)",
				typ.s, kv.key, r.id))
		}
	}
}

func (p *parser) method(v value) (string, bool) {
	m := strings.ToUpper(v.s)
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY":
		return m, true
	case "X-AMAZON-APIGATEWAY-ANY-METHOD":
		return "ANY", true
	}
	p.d.add(p.d.errf(v.n, v.path, "unsupported method %s (want GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)", quote(v.s)))
	return "", false
}

func (p *parser) routePath(v value) bool {
	if !strings.HasPrefix(v.s, "/") || strings.ContainsAny(v.s, " \t?#") {
		p.d.add(p.d.errf(v.n, v.path, "path %s must start with / and contain no spaces, '?' or '#'", quote(v.s)))
		return false
	}
	return true
}

// apiRef reads RestApiId/ApiId: it must name an API of this template, of
// the kind the event needs.
func (p *parser) apiRef(props obj, key, typ, implicit string) (string, bool) {
	v, ok := p.str(props, key)
	if !ok {
		return implicit, lookup(props.n, key) == nil
	}
	// Ref gives an API's id; a logical ID written as a plain string is
	// accepted too, as the transform does.
	named := v.s
	for _, id := range p.order {
		r := p.resources[id]
		if id != v.s && APIID(id) != v.s {
			continue
		}
		if r.typ == typ && !r.skipped {
			return id, true
		}
		if plain := plainAPIType(typ); r.typ == plain {
			// The transform accepts an API the template declares with
			// CloudFormation's own type and only grants the permission;
			// ESB does not run such an API.
			p.d.warn(v.n, v.path, "%s is an %s, which ESB does not run; this route is not served", quote(id), plain)
			return "", false
		}
		named = id
	}
	p.d.add(p.d.errf(v.n, v.path, "%s is not an %s of this template (use !Ref to one)", quote(named), typ))
	return "", false
}

// plainAPIType is the CloudFormation type behind a SAM API type.
func plainAPIType(samType string) string {
	if samType == TypeServerlessHTTPAPI {
		return "AWS::ApiGatewayV2::Api"
	}
	return "AWS::ApiGateway::RestApi"
}

func (p *parser) apiEvent(name string, props obj, f *Function) {
	rules, _ := eventPropertyRules(EventAPI)
	p.checkProperties(props, "an Api event", rules)
	path, okPath := p.required(props, "Path", "")
	method, okMethod := p.required(props, "Method", "")
	api, okAPI := p.apiRef(props, "RestApiId", TypeServerlessAPI, ImplicitRestAPI)
	if !okPath || !okMethod || !okAPI {
		return
	}
	okPath = p.routePath(path)
	m, okMethod := p.method(method)
	if !okPath || !okMethod {
		return
	}
	timeout, ok := p.integrationTimeout(props, "TimeoutInMillis", EventAPI)
	if !ok {
		return
	}
	f.Routes = append(f.Routes, Route{Event: name, Type: EventAPI, Path: path.s, Method: m, Payload: "1.0", API: api, TimeoutMillis: timeout, auth: p.readRouteAuth(props)})
}

func (p *parser) httpAPIEvent(name string, props obj, f *Function) {
	rules, _ := eventPropertyRules(EventHTTPAPI)
	p.checkProperties(props, "an HttpApi event", rules)
	path, hasPath := p.str(props, "Path")
	method, hasMethod := p.str(props, "Method")
	api, okAPI := p.apiRef(props, "ApiId", TypeServerlessHTTPAPI, ImplicitHTTPAPI)
	payload := "2.0"
	if v, ok := p.str(props, "PayloadFormatVersion"); ok {
		if !p.oneOf(v, "1.0", "2.0") {
			return
		}
		payload = v.s
	}
	timeout, okTimeout := p.integrationTimeout(props, "TimeoutInMillis", EventHTTPAPI)
	if !okAPI || !okTimeout {
		return
	}
	rt := Route{Event: name, Type: EventHTTPAPI, Payload: payload, API: api, TimeoutMillis: timeout, auth: p.readRouteAuth(props)}
	switch {
	case !hasPath && !hasMethod:
		// SAM makes such an event the API's catch-all ($default) route.
		rt.Path, rt.Method = "/{proxy+}", "ANY"
	case !hasMethod:
		p.d.add(p.d.errf(props.n, props.path+".Method", "required when Path is set (omit both for a catch-all route)"))
		return
	case !hasPath:
		p.d.add(p.d.errf(props.n, props.path+".Path", "required when Method is set (omit both for a catch-all route)"))
		return
	default:
		okPath := p.routePath(path)
		m, okMethod := p.method(method)
		if !okPath || !okMethod {
			return
		}
		rt.Path, rt.Method = path.s, m
	}
	f.Routes = append(f.Routes, rt)
}

// integrationTimeout reads an integration's timeout in milliseconds, key
// of o (an event's TimeoutInMillis, an OpenAPI integration's
// timeoutInMillis), for a route of event type typ; 0 when unset. Out of
// API Gateway's range it is an error, as CloudFormation rejects it. A
// REST API's above 29 s is applied with a warning: AWS accepts it only
// for a Regional API whose account raised the quota.
func (p *parser) integrationTimeout(o obj, key, typ string) (int, bool) {
	if v, _ := p.field(o, key); v == nil {
		return 0, true
	}
	limit := runtimeconfig.MaxTimeoutMillisHTTP
	if typ == EventAPI {
		limit = runtimeconfig.MaxTimeoutMillisREST
	}
	before := len(p.d.errs)
	ms := p.integer(o, key, 0, runtimeconfig.MinTimeoutMillis, limit)
	if len(p.d.errs) > before {
		return 0, false
	}
	if typ == EventAPI && ms > runtimeconfig.DefaultTimeoutMillisREST {
		v, path := p.field(o, key)
		p.d.warn(v, path, "%d ms is above a REST API's 29,000 ms integration timeout: AWS accepts it only for a Regional API after a quota increase; ESB applies it", ms)
	}
	return ms, true
}

var scheduleExpr = regexp.MustCompile(`^(rate|cron|at)\(.+\)$`)

func (p *parser) scheduleEvent(name string, props obj, exprKey, enabledKey string, f *Function) {
	kind := "Schedule"
	if exprKey == "ScheduleExpression" {
		kind = "ScheduleV2"
	}
	rules, _ := eventPropertyRules(kind)
	p.checkProperties(props, "a "+kind+" event", rules)
	expr, ok := p.required(props, exprKey, "")
	if !ok {
		return
	}
	if !scheduleExpr.MatchString(expr.s) || (exprKey == "Schedule" && strings.HasPrefix(expr.s, "at(")) {
		p.d.add(p.d.errf(expr.n, expr.path, "invalid schedule expression %s (want rate(...) or cron(...))", quote(expr.s)))
		return
	}
	tz, _ := p.str(props, "ScheduleExpressionTimezone")
	if !p.checkSchedule(expr, tz) {
		return
	}
	s := Schedule{Event: name, Kind: kind, Expression: expr.s, Timezone: tz.s}
	if v, ok := p.str(props, "Name"); ok {
		s.Name = v.s
	}
	if v, ok := p.str(props, "Input"); ok {
		if !json.Valid([]byte(v.s)) {
			p.d.add(p.d.errf(v.n, v.path, "Input must be a JSON text"))
			return
		}
		s.Input = v.s
	}
	if enabledKey != "" {
		s.Enabled = p.boolean(props, enabledKey)
	}
	if v, ok := p.str(props, "State"); ok {
		if !p.oneOf(v, "ENABLED", "DISABLED") {
			return
		}
		on := v.s == "ENABLED"
		s.Enabled = &on
	}
	if !p.scheduleWindow(props, &s) {
		return
	}
	f.Schedules = append(f.Schedules, s)
}
