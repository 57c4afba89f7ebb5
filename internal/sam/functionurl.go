package sam

import (
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// functionURLCorsKeys are the properties of FunctionUrlConfig.Cors
// (AWS::Lambda::Url's Cors).
var functionURLCorsKeys = []string{"AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders", "MaxAge"}

// functionURL reads FunctionUrlConfig (Globals merged in): the function's
// own address, served by the gateway on the host <url-id>.lambda-url.*.
// Everything a function URL can say is applied or refused: an unknown key
// or auth type would change who may call the function.
func (p *parser) functionURL(o obj, f *Function) {
	u, ok := p.object(o, "FunctionUrlConfig")
	if !ok {
		return
	}
	p.onlyKeys(u, "AWS::Lambda::Url", "AuthType", "Cors", "InvokeMode")
	url := &runtimeconfig.FunctionURL{ID: awsid.FunctionURLID(p.opts.StackName, f.Name)}
	ok = true
	if v, has := p.required(u, "AuthType", " (NONE or AWS_IAM)"); !has || !p.oneOf(v, runtimeconfig.URLAuthNone, runtimeconfig.URLAuthIAM) {
		ok = false
	} else {
		url.AuthType = v.s
	}
	if v, has := p.str(u, "InvokeMode"); has && p.oneOf(v, runtimeconfig.URLInvokeBuffered, runtimeconfig.URLInvokeStream) {
		if v.s == runtimeconfig.URLInvokeStream {
			// A streamed answer would reach the client whole and late
			// here: a client that reads it as a stream would break.
			p.d.add(p.d.errf(v.n, v.path, "RESPONSE_STREAM is not served: the gateway sends a function's answer whole (use BUFFERED)"))
			ok = false
		}
	}
	if c, has := p.object(u, "Cors"); has {
		p.onlyKeys(c, "FunctionUrlConfig.Cors", functionURLCorsKeys...)
		cfg := &runtimeconfig.Cors{Kind: runtimeconfig.CorsHTTP}
		list := func(key string) []string {
			vs, _ := p.strList(c, key)
			return strs(vs)
		}
		cfg.AllowOrigins = list("AllowOrigins")
		cfg.AllowMethods = list("AllowMethods")
		cfg.AllowHeaders = list("AllowHeaders")
		cfg.ExposeHeaders = list("ExposeHeaders")
		if v, _ := p.field(c, "MaxAge"); v != nil {
			age := p.integer(c, "MaxAge", 0, 0, 86400)
			cfg.MaxAge = &age
		}
		if b := p.boolean(c, "AllowCredentials"); b != nil {
			cfg.AllowCredentials = *b
		}
		url.Cors = cfg
	}
	if ok {
		f.URL = url
	}
}

// onlyKeys reports each key of o that is not one of keys: CloudFormation
// refuses a property its resource type does not define.
func (p *parser) onlyKeys(o obj, what string, keys ...string) {
	for _, kv := range pairs(o.n) {
		if contains(keys, kv.key) {
			continue
		}
		hint := ""
		if near := nearest(kv.key, keys); near != "" {
			hint = " (did you mean " + near + "?)"
		}
		p.d.add(p.d.errf(kv.knode, p.pathOf(kv.val, joinPath(o.path, kv.key)), "%s is not a property of %s%s", quote(kv.key), what, hint))
	}
}
