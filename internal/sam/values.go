package sam

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/awsid"
)

// APIID is the id ESB gives the API with this logical ID: what Ref
// returns for it, and the first label of the host name that addresses it
// (<id>.execute-api.localhost). AWS generates a random id; the lower-cased
// logical ID is stable across deploys and readable.
func APIID(logicalID string) string { return strings.ToLower(logicalID) }

// ref evaluates Ref name.
func (p *parser) ref(at *yaml.Node, name, path string) (*yaml.Node, error) {
	if pr, ok := p.params[name]; ok {
		if pr.value == nil {
			return nil, p.d.errf(at, path, "parameter %q has no valid value", name)
		}
		// Re-place the value at the Ref, where a problem with it is fixed.
		if pr.value.Kind == yaml.SequenceNode {
			items := make([]*yaml.Node, len(pr.value.Content))
			for i, c := range pr.value.Content {
				items[i] = scalarNode(at, c.Value)
			}
			return seqNode(at, items), nil
		}
		return scalarNode(at, pr.value.Value), nil
	}
	switch name {
	case "AWS::NoValue":
		return nil, nil
	case "AWS::NotificationARNs":
		return seqNode(at, nil), nil
	}
	if isPseudo(name) {
		return scalarNode(at, p.pseudo(name)), nil
	}
	if p.condDepth > 0 {
		return nil, p.d.errf(at, path, "Ref %s: conditions can only use parameters, pseudo parameters and mappings", name)
	}
	var v string
	var err error
	if base, prop, ok := strings.Cut(name, "."); ok {
		v, err = p.refProperty(at, base, prop, path)
	} else {
		v, err = p.refResource(at, name, path)
	}
	if err != nil {
		return nil, err
	}
	return scalarNode(at, v), nil
}

func (p *parser) partition() string {
	switch {
	case strings.HasPrefix(p.opts.Region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(p.opts.Region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (p *parser) urlSuffix() string {
	if strings.HasPrefix(p.opts.Region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

func (p *parser) pseudo(name string) string {
	switch name {
	case "AWS::AccountId":
		return p.opts.AccountID
	case "AWS::Region":
		return p.opts.Region
	case "AWS::StackName":
		return p.opts.StackName
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", p.partition(), p.opts.Region, p.opts.AccountID, p.opts.StackName)
	case "AWS::Partition":
		return p.partition()
	case "AWS::URLSuffix":
		return p.urlSuffix()
	}
	return ""
}

// physicalName is a declared resource's name: its name property when the
// template sets one, else the logical ID. AWS would generate a unique
// name instead; the logical ID is stable and readable, which matters more
// on a local platform that is redeployed often.
func (p *parser) physicalName(at *yaml.Node, id, path string) (string, error) {
	r, ok := p.resources[id]
	if !ok {
		if _, ok := p.implicit[id]; ok {
			return id, nil
		}
		return "", p.d.errf(at, path, "Ref to unknown resource %q", id)
	}
	if r.skipped {
		return "", p.d.errorAt(at, path, fmt.Errorf("%s %q: %w, its Condition %q is false (guard the reference with Fn::If)", r.typ, id, errNotCreated, r.condition))
	}
	switch p.nameState[id] {
	case 2:
		return p.nameValue[id], p.nameErr[id]
	case 1:
		return "", p.d.errf(at, path, "cyclic reference: %s -> %s", strings.Join(p.nameStack, " -> "), id)
	}
	p.nameState[id] = 1
	p.nameStack = append(p.nameStack, id)
	name, err := p.computeName(r)
	p.nameStack = p.nameStack[:len(p.nameStack)-1]
	p.nameState[id] = 2
	p.nameValue[id], p.nameErr[id] = name, err
	return name, err
}

// nameProperty is the property that names a resource of typ, where Ref or
// Fn::GetAtt return something built from that name.
func nameProperty(typ string) string {
	switch typ {
	case TypeServerlessFunction, TypeLambdaFunction:
		return "FunctionName"
	case TypeDynamoDBTable, TypeServerlessTable:
		return "TableName"
	case TypeS3Bucket:
		return "BucketName"
	case TypeServerlessLayer, "AWS::Lambda::LayerVersion":
		return "LayerName"
	case typeSQSQueue:
		return "QueueName"
	case typeSNSTopic:
		return "TopicName"
	case typeIAMRole:
		return "RoleName"
	case typeStateMachine, "AWS::Events::Rule", "AWS::Events::EventBus", "AWS::Kinesis::Stream",
		"AWS::SecretsManager::Secret", "AWS::SSM::Parameter":
		return "Name"
	case "AWS::StepFunctions::StateMachine":
		return "StateMachineName"
	case "AWS::Logs::LogGroup":
		return "LogGroupName"
	}
	return ""
}

func (p *parser) computeName(r *rawResource) (string, error) {
	name := r.id
	if r.typ == TypeS3Bucket {
		// S3 bucket names are lower case; AWS generates lower-case names too.
		name = strings.ToLower(r.id)
	}
	if prop := nameProperty(r.typ); prop != "" {
		if raw := lookup(r.props, prop); raw != nil {
			s, err := p.resolveString(prop, raw, r.path+".Properties."+prop)
			if err != nil {
				return "", err
			}
			return s, nil
		}
	}
	// CloudFormation names an unnamed FIFO queue or topic with the .fifo
	// suffix the service requires.
	fifo := map[string]string{typeSQSQueue: "FifoQueue", typeSNSTopic: "FifoTopic"}[r.typ]
	if raw := lookup(r.props, fifo); fifo != "" && raw != nil {
		if v, err := p.resolve(raw, r.path+".Properties."+fifo); err == nil && v != nil && strings.EqualFold(v.Value, "true") {
			name += ".fifo"
		}
	}
	return name, nil
}

func (p *parser) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", p.partition(), service, p.opts.Region, p.opts.AccountID, resource)
}

// refResource is what Ref returns for a declared or generated resource:
// for each type, the shape CloudFormation documents (a name, an ARN, a
// queue URL...), built from the stable local name.
func (p *parser) refResource(at *yaml.Node, id, path string) (string, error) {
	typ, ok := p.resourceType(id)
	if !ok {
		return "", p.d.errf(at, path, "Ref to unknown resource %q", id)
	}
	if im, generated := p.implicit[id]; generated {
		switch im.typ {
		case typeLambdaAlias:
			arn, err := p.functionARN(at, im.parent, path)
			return arn + ":" + im.detail, err
		case typeRestStage, typeHTTPStage:
			return im.detail, nil
		case typeLambdaURL:
			return p.functionARN(at, im.parent, path)
		}
	}
	name, err := p.physicalName(at, id, path)
	if err != nil {
		return "", err
	}
	return p.refOf(typ, id, name), nil
}

func (p *parser) refOf(typ, id, name string) string {
	switch typ {
	case TypeServerlessLayer, "AWS::Lambda::LayerVersion":
		return p.arn("lambda", "layer:"+name+":1")
	case TypeServerlessAPI, TypeServerlessHTTPAPI, typeWebSocketAPI, "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api":
		return APIID(id)
	case typeSQSQueue:
		return p.queueURL(name)
	case typeSNSTopic:
		return p.arn("sns", name)
	case typeStateMachine, "AWS::StepFunctions::StateMachine":
		return p.arn("states", "stateMachine:"+name)
	case "AWS::SecretsManager::Secret":
		return p.arn("secretsmanager", "secret:"+name)
	case typeRestDeployment:
		return strings.ToLower(alnum(id))
	case typeLambdaVersion:
		return p.arn("lambda", "function:"+name+":1")
	}
	return name
}

func (p *parser) queueURL(name string) string {
	return "https://sqs." + p.opts.Region + "." + p.urlSuffix() + "/" + p.opts.AccountID + "/" + name
}

func (p *parser) functionARN(at *yaml.Node, id, path string) (string, error) {
	name, err := p.physicalName(at, id, path)
	return p.arn("lambda", "function:"+name), err
}

// refProperty evaluates "!Ref Resource.Property", SAM's way of naming a
// resource the transform generates (MyFunction.Alias, MyApi.Stage).
func (p *parser) refProperty(at *yaml.Node, base, prop, path string) (string, error) {
	typ, ok := p.resourceType(base)
	if !ok {
		return "", p.d.errf(at, path, "Ref to unknown resource %q", base)
	}
	if _, ok := referable(typ, prop); !ok {
		return "", p.d.errf(at, path, "Ref %s.%s: %s has no property %s that Ref can name", base, prop, typ, quote(prop))
	}
	r := p.resources[base]
	str := func(key, def string) (string, error) {
		if r == nil {
			return def, nil
		}
		raw := lookup(r.props, key)
		if raw == nil {
			return def, nil
		}
		return p.resolveString(key, raw, r.path+".Properties."+key)
	}
	switch prop {
	case "Alias", "Version":
		arn, err := p.functionARN(at, base, path)
		if err != nil {
			return "", err
		}
		if prop == "Version" {
			return arn + ":1", nil
		}
		alias, err := str("AutoPublishAlias", "live")
		if err == nil && r != nil && lookup(r.props, "AutoPublishAlias") == nil {
			if g, ok := literal(p.rawProp(r, "Function", "AutoPublishAlias")); ok {
				alias = g
			}
		}
		return arn + ":" + alias, err
	case "DestinationTopic":
		return p.arn("sns", base+"EventInvokeConfigTopic"), nil
	case "DestinationQueue":
		return p.queueURL(base + "EventInvokeConfigQueue"), nil
	case "Stage":
		def := "$default"
		if typ == TypeServerlessAPI {
			def = "Prod"
		}
		return str("StageName", def)
	case "Deployment":
		return strings.ToLower(base) + "deployment", nil
	case "DomainName", "DomainNameV2":
		if r != nil {
			if d := lookup(r.props, "Domain"); d != nil {
				if raw := lookup(d, "DomainName"); raw != nil {
					return p.resolveString("DomainName", raw, r.path+".Properties.Domain.DomainName")
				}
			}
		}
		return strings.ToLower(base) + ".example.com", nil
	}
	return strings.ToLower(base) + strings.ToLower(prop), nil
}

// getAtt evaluates Fn::GetAtt with plausible local values, so code that
// builds ARNs or URLs from them sees the same shapes as on AWS.
func (p *parser) getAtt(at *yaml.Node, id, attr, path string) (string, error) {
	if p.condDepth > 0 {
		return "", p.d.errf(at, path, "Fn::GetAtt %s.%s: conditions can only use parameters, pseudo parameters and mappings", id, attr)
	}
	typ, ok := p.resourceType(id)
	if !ok {
		return "", p.d.errf(at, path, "Fn::GetAtt: unknown resource %q", id)
	}
	name := id
	if _, declared := p.resources[id]; declared {
		n, err := p.physicalName(at, id, path)
		if err != nil {
			return "", err
		}
		name = n
	}
	if im, generated := p.implicit[id]; generated && im.typ == typeLambdaURL {
		switch attr {
		case "FunctionArn":
			return p.functionARN(at, im.parent, path)
		case "FunctionUrl":
			// AWS's form, with the url-id the gateway serves the
			// function's URL on (<url-id>.lambda-url.<any domain>).
			fn, err := p.physicalName(at, im.parent, path)
			return "https://" + awsid.FunctionURLID(p.opts.StackName, fn) + ".lambda-url." + p.opts.Region + ".on.aws/", err
		}
	}
	attrs, modelled := p.attributes(typ, id, name)
	if v, ok := attrs[attr]; ok {
		return v, nil
	}
	if modelled {
		if len(attrs) == 0 {
			return "", p.d.errf(at, path, "Fn::GetAtt %s.%s: %s has no attributes (use Ref)", id, attr, typ)
		}
		return "", p.d.errf(at, path, "Fn::GetAtt %s.%s: %s has no attribute %q (supported: %s)", id, attr, typ, attr, strings.Join(sortedKeys(attrs), ", "))
	}
	if attr == "Arn" || strings.HasSuffix(attr, ".Arn") {
		return p.genericARN(typ, name), nil
	}
	// A resource ESB does not run: AWS's value cannot exist here, but a
	// template mostly passes it on as a string (environment, policies).
	v := strings.ToLower(name) + "-" + strings.ToLower(alnum(attr))
	p.d.warn(at, path, "Fn::GetAtt %s.%s: ESB does not model this attribute of %s; the placeholder %s stands in for it", id, attr, typ, quote(v))
	return v, nil
}

// attributes lists the Fn::GetAtt values of a resource. modelled is true
// for the types ESB runs, whose attribute lists are complete: another
// attribute name is a mistake in the template. For the other types the
// list holds the common attributes, and any other gets a placeholder.
func (p *parser) attributes(typ, id, name string) (attrs map[string]string, modelled bool) {
	s := p.urlSuffix()
	switch typ {
	case TypeServerlessFunction, TypeLambdaFunction:
		return map[string]string{
			"Arn":                                  p.arn("lambda", "function:"+name),
			"SnapStartResponse.ApplyOn":            "None", // SnapStart does not apply locally
			"SnapStartResponse.OptimizationStatus": "Off",
		}, true
	case TypeDynamoDBTable, TypeServerlessTable:
		tableArn := p.arn("dynamodb", "table/"+name)
		return map[string]string{"Arn": tableArn, "StreamArn": tableArn + "/stream/1970-01-01T00:00:00.000"}, true
	case TypeS3Bucket:
		return map[string]string{
			"Arn":                 "arn:" + p.partition() + ":s3:::" + name,
			"DomainName":          name + ".s3." + s,
			"RegionalDomainName":  name + ".s3." + p.opts.Region + "." + s,
			"DualStackDomainName": name + ".s3.dualstack." + p.opts.Region + "." + s,
			"WebsiteURL":          "http://" + name + ".s3-website-" + p.opts.Region + "." + s,
		}, true
	case TypeServerlessAPI:
		return map[string]string{"RootResourceId": APIID(id) + "root", "RestApiId": APIID(id)}, true
	case TypeServerlessHTTPAPI:
		return map[string]string{"ApiEndpoint": "https://" + APIID(id) + ".execute-api." + p.opts.Region + "." + s, "ApiId": APIID(id)}, true
	case TypeServerlessLayer:
		return map[string]string{"LayerVersionArn": p.arn("lambda", "layer:"+name+":1")}, true
	case typeIAMRole:
		return map[string]string{"Arn": "arn:" + p.partition() + ":iam::" + p.opts.AccountID + ":role/" + name, "RoleId": "AROA" + strings.ToUpper(alnum(name))}, false
	case typeSQSQueue:
		return map[string]string{"Arn": p.arn("sqs", name), "QueueName": name, "QueueUrl": p.queueURL(name)}, false
	case typeSNSTopic:
		return map[string]string{"TopicArn": p.arn("sns", name), "TopicName": name}, false
	case typeStateMachine, "AWS::StepFunctions::StateMachine":
		return map[string]string{"Arn": p.arn("states", "stateMachine:"+name), "Name": name}, false
	case typeLambdaURL:
		return map[string]string{"FunctionUrl": "https://" + strings.ToLower(alnum(id)) + ".lambda-url." + p.opts.Region + ".on.aws/"}, false
	case "AWS::Events::EventBus":
		return map[string]string{"Arn": p.arn("events", "event-bus/"+name), "Name": name}, false
	case "AWS::Cognito::UserPool":
		poolID := p.opts.Region + "_" + alnum(name)
		return map[string]string{
			"Arn":          p.arn("cognito-idp", "userpool/"+poolID),
			"ProviderName": "cognito-idp." + p.opts.Region + ".amazonaws.com/" + poolID,
			"ProviderURL":  "https://cognito-idp." + p.opts.Region + ".amazonaws.com/" + poolID,
			"UserPoolId":   poolID,
		}, false
	case "AWS::KMS::Key":
		return map[string]string{"Arn": p.arn("kms", "key/"+name), "KeyId": name}, false
	}
	return nil, false
}

// genericARN makes a plausible ARN for a resource type ESB does not run,
// so templates that pass such ARNs around (policies, environment) still
// evaluate.
func (p *parser) genericARN(typ, name string) string {
	parts := strings.Split(typ, "::")
	service := strings.ToLower(parts[min(1, len(parts)-1)])
	switch typ {
	case typeSQSQueue, typeSNSTopic:
		return p.arn(service, name)
	case typeStateMachine, "AWS::StepFunctions::StateMachine":
		return p.arn("states", "stateMachine:"+name)
	case "AWS::Logs::LogGroup":
		return p.arn("logs", "log-group:"+name+":*")
	}
	return p.arn(service, strings.ToLower(parts[len(parts)-1])+"/"+name)
}
