package sam

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// implicitResource is a resource the SAM transform generates from another
// one (a function's role, an API's stage...). Templates reference them by
// the logical ID the transform gives them, in Outputs, DependsOn, policies
// and environment variables, so they must resolve as on AWS.
type implicitResource struct {
	typ    string
	parent string // the logical ID of the resource it is generated from
	// detail is what the value depends on besides the parent: the alias
	// name of an Alias, the stage name of a Stage.
	detail string
}

// Types of generated resources whose values this package computes.
const (
	typeIAMRole        = "AWS::IAM::Role"
	typeLambdaAlias    = "AWS::Lambda::Alias"
	typeLambdaVersion  = "AWS::Lambda::Version"
	typeLambdaURL      = "AWS::Lambda::Url"
	typeRestStage      = "AWS::ApiGateway::Stage"
	typeRestDeployment = "AWS::ApiGateway::Deployment"
	typeHTTPStage      = "AWS::ApiGatewayV2::Stage"
	typeSQSQueue       = "AWS::SQS::Queue"
	typeSNSTopic       = "AWS::SNS::Topic"
	typeStateMachine   = "AWS::Serverless::StateMachine"
	typeConnector      = "AWS::Serverless::Connector"
	typeWebSocketAPI   = "AWS::Serverless::WebSocketApi"
	typeGraphQLAPI     = "AWS::Serverless::GraphQLApi"
	typeCapacity       = "AWS::Serverless::CapacityProvider"
)

// referable returns the type behind "<Resource>.<Property>", the
// references SAM resolves to a generated resource (!Ref MyApi.Stage,
// !Ref MyFunction.Alias), or ok false.
func referable(typ, prop string) (string, bool) {
	m := map[string]map[string]string{
		TypeServerlessFunction: {"Alias": typeLambdaAlias, "Version": typeLambdaVersion, "DestinationTopic": typeSNSTopic, "DestinationQueue": typeSQSQueue},
		TypeServerlessAPI: {"Stage": typeRestStage, "Deployment": typeRestDeployment, "DomainName": "AWS::ApiGateway::DomainName",
			"DomainNameV2": "AWS::ApiGateway::DomainNameV2", "UsagePlan": "AWS::ApiGateway::UsagePlan",
			"UsagePlanKey": "AWS::ApiGateway::UsagePlanKey", "ApiKey": "AWS::ApiGateway::ApiKey"},
		TypeServerlessHTTPAPI: {"Stage": typeHTTPStage, "DomainName": "AWS::ApiGatewayV2::DomainName"},
		typeWebSocketAPI:      {"Stage": typeHTTPStage, "DomainName": "AWS::ApiGatewayV2::DomainName"},
	}
	t, ok := m[typ][prop]
	return t, ok
}

func isReferable(typ, prop string) bool {
	_, ok := referable(typ, prop)
	return ok
}

// alnum keeps the letters and digits of s, as the transform does when it
// builds a logical ID from a name.
func alnum(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// rawProp returns a resource's property as written, or, for a SAM type,
// the Globals value it takes; nil when neither sets it.
func (p *parser) rawProp(r *rawResource, section, key string) *yaml.Node {
	if v := lookup(r.props, key); v != nil {
		return v
	}
	if section == "" || r.ignoreAll || r.ignore[key] {
		return nil
	}
	return lookup(p.globals[section], key)
}

// literal returns a property's value when it is written as a plain
// scalar; generated logical IDs built from an intrinsic are not
// predictable, as in the transform.
func literal(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || isCustomTag(n.Tag) || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// findImplicit registers the resources the SAM transform generates under
// predictable logical IDs.
func (p *parser) findImplicit() {
	add := func(id string, im implicitResource) {
		if _, declared := p.resources[id]; declared {
			return
		}
		if _, seen := p.implicit[id]; !seen {
			p.implicit[id] = im
		}
	}
	implicitRest, implicitHTTP := false, false
	for _, id := range p.order {
		r := p.resources[id]
		switch r.typ {
		case TypeServerlessFunction:
			if p.rawProp(r, "Function", "Role") == nil {
				add(id+"Role", implicitResource{typ: typeIAMRole, parent: id})
			}
			if a, ok := literal(p.rawProp(r, "Function", "AutoPublishAlias")); ok {
				add(id+"Alias"+alnum(a), implicitResource{typ: typeLambdaAlias, parent: id, detail: a})
			}
			if p.rawProp(r, "Function", "FunctionUrlConfig") != nil {
				add(id+"Url", implicitResource{typ: typeLambdaURL, parent: id})
				add(id+"UrlPublicPermissions", implicitResource{typ: "AWS::Lambda::Permission", parent: id})
			}
			if p.rawProp(r, "Function", "EventInvokeConfig") != nil {
				add(id+"EventInvokeConfig", implicitResource{typ: "AWS::Lambda::EventInvokeConfig", parent: id})
			}
			if p.rawProp(r, "Function", "DeploymentPreference") != nil {
				add(id+"DeploymentGroup", implicitResource{typ: "AWS::CodeDeploy::DeploymentGroup", parent: id})
				add("ServerlessDeploymentApplication", implicitResource{typ: "AWS::CodeDeploy::Application", parent: id})
				add("CodeDeployServiceRole", implicitResource{typ: typeIAMRole, parent: id})
			}
			rest, http := p.eventResources(r, add)
			implicitRest = implicitRest || rest
			implicitHTTP = implicitHTTP || http
		case typeStateMachine:
			if p.rawProp(r, "", "Role") == nil {
				add(id+"Role", implicitResource{typ: typeIAMRole, parent: id})
			}
			if a, ok := literal(p.rawProp(r, "", "AutoPublishAlias")); ok {
				add(id+"Alias"+alnum(a), implicitResource{typ: "AWS::StepFunctions::StateMachineAlias", parent: id, detail: a})
				add(id+"Version", implicitResource{typ: "AWS::StepFunctions::StateMachineVersion", parent: id})
			}
			rest, http := p.eventResources(r, add)
			implicitRest = implicitRest || rest
			implicitHTTP = implicitHTTP || http
		case TypeServerlessAPI:
			add(id+"Deployment", implicitResource{typ: typeRestDeployment, parent: id})
			if s, ok := literal(p.rawProp(r, "", "StageName")); ok && alnum(s) == s && s != "" {
				add(id+s+"Stage", implicitResource{typ: typeRestStage, parent: id, detail: s})
			}
			p.usagePlanResources(r, add)
			if p.rawProp(r, "Api", "Domain") != nil {
				add(id+"BasePathMapping", implicitResource{typ: "AWS::ApiGateway::BasePathMapping", parent: id})
			}
		case TypeServerlessHTTPAPI, typeWebSocketAPI:
			stageType := typeHTTPStage
			s, ok := literal(p.rawProp(r, "", "StageName"))
			switch {
			case !ok && r.typ == TypeServerlessHTTPAPI, s == "$default":
				add(id+"ApiGatewayDefaultStage", implicitResource{typ: stageType, parent: id, detail: "$default"})
			case !ok:
				add(id+"DefaultStage", implicitResource{typ: stageType, parent: id, detail: "default"})
			case alnum(s) == s && s != "":
				add(id+s+"Stage", implicitResource{typ: stageType, parent: id, detail: s})
			}
			if p.rawProp(r, "HttpApi", "Domain") != nil {
				add(id+"ApiMapping", implicitResource{typ: "AWS::ApiGatewayV2::ApiMapping", parent: id})
			}
		case typeCapacity:
			if p.rawProp(r, "CapacityProvider", "OperatorRole") == nil {
				add(id+"OperatorRole", implicitResource{typ: typeIAMRole, parent: id})
			}
		case typeGraphQLAPI:
			for _, suffix := range []string{"CloudWatchRole", "Schema", "ApiCache", "DomainName", "DomainNameApiAssociation", "NoneDataSource"} {
				add(id+suffix, implicitResource{typ: "AWS::AppSync::" + suffix, parent: id})
			}
			for _, k := range pairs(lookup(r.props, "ApiKeys")) {
				add(id+k.key, implicitResource{typ: "AWS::AppSync::ApiKey", parent: id})
			}
		}
		for _, c := range pairs(r.connectors) {
			add(id+c.key, implicitResource{typ: typeConnector, parent: id})
		}
	}
	if implicitRest {
		stage := "Prod"
		if s, ok := literal(lookup(p.globals["Api"], "StageName")); ok {
			stage = s
		}
		add(ImplicitRestAPI, implicitResource{typ: TypeServerlessAPI})
		add(ImplicitRestAPI+"Deployment", implicitResource{typ: typeRestDeployment, parent: ImplicitRestAPI})
		add(ImplicitRestAPI+alnum(stage)+"Stage", implicitResource{typ: typeRestStage, parent: ImplicitRestAPI, detail: stage})
	}
	if implicitHTTP {
		add(ImplicitHTTPAPI, implicitResource{typ: TypeServerlessHTTPAPI})
		add(ImplicitHTTPAPI+"ApiGatewayDefaultStage", implicitResource{typ: typeHTTPStage, parent: ImplicitHTTPAPI, detail: "$default"})
	}
}

// eventResources registers what a function's or state machine's events
// generate, and reports whether an Api or HttpApi event names no API (the
// transform then creates ServerlessRestApi or ServerlessHttpApi).
func (p *parser) eventResources(r *rawResource, add func(string, implicitResource)) (rest, http bool) {
	for _, ev := range pairs(lookup(r.props, "Events")) {
		typ, _ := literal(lookup(ev.val, "Type"))
		props := lookup(ev.val, "Properties")
		id := r.id + ev.key
		im := func(t string) implicitResource { return implicitResource{typ: t, parent: r.id} }
		switch typ {
		case EventAPI:
			rest = rest || lookup(props, "RestApiId") == nil
		case EventHTTPAPI:
			http = http || lookup(props, "ApiId") == nil
		case "Schedule", "CloudWatchEvent", "EventBridgeRule":
			add(id, im("AWS::Events::Rule"))
			if lookup(props, "DeadLetterConfig") != nil {
				add(id+"Queue", im(typeSQSQueue))
				add(id+"QueuePolicy", im("AWS::SQS::QueuePolicy"))
			}
		case "ScheduleV2":
			add(id, im("AWS::Scheduler::Schedule"))
			add(id+"Role", im(typeIAMRole))
			if lookup(props, "DeadLetterConfig") != nil {
				add(id+"Queue", im(typeSQSQueue))
			}
		case "SQS", "Kinesis", "DynamoDB", "MQ", "MSK", "SelfManagedKafka", "DocumentDB":
			add(id, im("AWS::Lambda::EventSourceMapping"))
		case "SNS":
			add(id, im("AWS::SNS::Subscription"))
			if lookup(props, "SqsSubscription") != nil {
				add(id+"Queue", im(typeSQSQueue))
				add(id+"QueuePolicy", im("AWS::SQS::QueuePolicy"))
				add(id+"EventSourceMapping", im("AWS::Lambda::EventSourceMapping"))
			}
		case "IoTRule":
			add(id, im("AWS::IoT::TopicRule"))
		case "CloudWatchLogs":
			add(id, im("AWS::Logs::SubscriptionFilter"))
		}
	}
	return rest, http
}

// usagePlanResources registers what Auth.UsagePlan makes: per API, or one
// plan shared by every API of the template.
func (p *parser) usagePlanResources(r *rawResource, add func(string, implicitResource)) {
	plan := lookup(p.rawProp(r, "Api", "Auth"), "UsagePlan")
	kind, _ := literal(lookup(plan, "CreateUsagePlan"))
	prefix := r.id
	switch kind {
	case "PER_API":
	case "SHARED":
		prefix = "Serverless"
	default:
		return
	}
	add(prefix+"UsagePlan", implicitResource{typ: "AWS::ApiGateway::UsagePlan", parent: r.id})
	add(prefix+"ApiKey", implicitResource{typ: "AWS::ApiGateway::ApiKey", parent: r.id})
	add(prefix+"UsagePlanKey", implicitResource{typ: "AWS::ApiGateway::UsagePlanKey", parent: r.id})
}
