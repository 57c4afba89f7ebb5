package sam

import (
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// How ESB handles a property of a SAM resource. Every property the
// transform defines has one, so nothing in a template is dropped
// silently: ESB honours it, it has no effect a local platform could show
// (documentation, tags, deployment bookkeeping), or the warning says what
// is not done.
type propKind int

const (
	propHonoured propKind = iota // read and applied
	propInert                    // nothing local could observe
	propWarn                     // not applied: the message says what that means
	propIAM                      // IAM: reported once per template
)

type propRule struct {
	kind propKind
	msg  string // for propWarn: what is not done
}

func honoured() propRule        { return propRule{kind: propHonoured} }
func inert() propRule           { return propRule{kind: propInert} }
func iam() propRule             { return propRule{kind: propIAM} }
func warns(msg string) propRule { return propRule{kind: propWarn, msg: msg} }
func special() propRule         { return propRule{kind: propHonoured} } // checked on its own (Auth)
func notTraced() propRule       { return warns("X-Ray is not available locally; no traces are recorded") }
func notThrottled() propRule {
	return warns("throttling, caching and per-method logging settings are not applied")
}
func domainNotServed() propRule {
	return warns("the custom domain and its base paths are not served; use the API's own address (see esb deploy's output)")
}
func accessLogsLocal() propRule {
	return warns("access logs go to ESB's log store in ESB's format, not to this destination")
}
func stageVarsNotSent() propRule {
	return warns("stage variables are not passed to functions (the event's stageVariables stays null)")
}

// propertyRules returns the rules for a SAM resource type's properties,
// keyed by property name; ok is false for types this table does not
// cover.
func propertyRules(typ string) (map[string]propRule, bool) {
	switch typ {
	case TypeServerlessFunction:
		return map[string]propRule{
			"FunctionName": honoured(), "Handler": honoured(), "Runtime": honoured(), "CodeUri": honoured(),
			"ImageUri": honoured(), "PackageType": honoured(), "InlineCode": honoured(), "MemorySize": honoured(),
			"Timeout": honoured(), "Environment": honoured(), "Events": honoured(), "ReservedConcurrentExecutions": honoured(),
			"Layers": honoured(), "ProvisionedConcurrencyConfig": honoured(), "Architectures": honoured(),
			"Description": inert(), "Tags": inert(), "PropagateTags": inert(), "VersionDescription": inert(),
			"AutoPublishCodeSha256": inert(), "AutoPublishAliasAllProperties": inert(), "VersionDeletionPolicy": inert(),
			"PublishToLatestPublished": inert(), "KmsKeyArn": inert(), "SourceKMSKeyArn": inert(), "CodeSigningConfigArn": inert(),
			"RuntimeManagementConfig": inert(),
			"Role":                    iam(), "Policies": iam(), "AssumeRolePolicyDocument": iam(), "RolePath": iam(), "PermissionsBoundary": iam(),
			"DeadLetterQueue":        special(), // see asyncConfig
			"EventInvokeConfig":      special(), // see asyncConfig
			"Tracing":                notTraced(),
			"VpcConfig":              warns("the function runs on ESB's function network, not in this VPC's subnets and security groups"),
			"DeploymentPreference":   warns("gradual deployment (CodeDeploy traffic shifting, hooks, alarms) is not done; a deploy switches all traffic at once"),
			"AutoPublishAlias":       warns("no version or alias is published; the function runs its latest code under its name (Ref <function>.Alias still resolves)"),
			"EphemeralStorage":       honoured(),
			"FileSystemConfigs":      warns("EFS file systems are not mounted"),
			"ImageConfig":            warns("ImageConfig (command, entry point, working directory) is not applied; the image's own CMD and ENTRYPOINT run"),
			"SnapStart":              warns("SnapStart does not apply; every cold start runs the function's initialisation"),
			"FunctionUrlConfig":      special(),  // see functionURL
			"LoggingConfig":          honoured(), // see loggingConfig
			"RecursiveLoop":          warns("recursive loop detection is not done"),
			"CapacityProviderConfig": warns("capacity providers do not apply; the function runs on ESB's own containers"),
			"FunctionScalingConfig":  warns("capacity-provider scaling settings do not apply"),
			"TenancyConfig":          warns("tenant isolation is not applied"),
			"DurableConfig":          warns("durable execution is not available locally"),
		}, true
	case TypeServerlessAPI:
		return map[string]propRule{
			"Name": inert(), "StageName": honoured(), "Tags": inert(), "PropagateTags": inert(), "DefinitionBody": honoured(),
			"DefinitionUri": honoured(), "MergeDefinitions": inert(), "OpenApiVersion": inert(), "FailOnWarnings": inert(),
			"Description": inert(), "Mode": inert(), "AlwaysDeploy": inert(), "SecurityPolicy": inert(), "EndpointAccessMode": inert(),
			"ApiKeySourceType": special(), "Auth": special(), "Policy": special(),
			"CacheClusterEnabled": notThrottled(), "CacheClusterSize": notThrottled(), "MethodSettings": notThrottled(),
			"Variables":                 stageVarsNotSent(),
			"EndpointConfiguration":     warns("the endpoint type does not apply; the API is served on the gateway's address like every API"),
			"BinaryMediaTypes":          warns("binary media types are not applied; ESB base64-encodes bodies by their content type alone"),
			"MinimumCompressionSize":    warns("responses are not compressed"),
			"Cors":                      special(),
			"GatewayResponses":          warns("custom gateway responses are not used; ESB answers with API Gateway's default error bodies"),
			"AccessLogSetting":          accessLogsLocal(),
			"CanarySetting":             warns("canary deployments are not done; all requests reach the deployed functions"),
			"TracingEnabled":            notTraced(),
			"Models":                    warns("models are not used to validate requests"),
			"Domain":                    domainNotServed(),
			"DisableExecuteApiEndpoint": warns("the API stays reachable on its own address"),
		}, true
	case TypeServerlessHTTPAPI:
		return map[string]propRule{
			"Name": inert(), "StageName": honoured(), "Tags": inert(), "PropagateTags": inert(), "DefinitionBody": honoured(),
			"DefinitionUri": honoured(), "FailOnWarnings": inert(), "Description": inert(), "Auth": special(),
			"StageVariables":            stageVarsNotSent(),
			"CorsConfiguration":         special(),
			"AccessLogSettings":         accessLogsLocal(),
			"DefaultRouteSettings":      notThrottled(),
			"RouteSettings":             notThrottled(),
			"Domain":                    domainNotServed(),
			"DisableExecuteApiEndpoint": warns("the API stays reachable on its own address"),
		}, true
	case TypeServerlessTable:
		return map[string]propRule{
			"PrimaryKey": honoured(), "ProvisionedThroughput": honoured(), "TableName": honoured(), "Tags": inert(),
			"SSESpecification":                 inert(),
			"PointInTimeRecoverySpecification": warns("point-in-time recovery is not available locally; the table has no backups"),
		}, true
	case TypeServerlessLayer:
		return map[string]propRule{
			"LayerName": honoured(), "ContentUri": honoured(), "CompatibleRuntimes": honoured(), "Description": inert(),
			"PublishLambdaVersion": inert(), "CompatibleArchitectures": inert(), "LicenseInfo": inert(), "RetentionPolicy": inert(),
		}, true
	case typeStateMachine:
		return names("Definition", "DefinitionUri", "Logging", "Role", "RolePath", "DefinitionSubstitutions", "Events", "Name",
			"Type", "Tags", "PropagateTags", "Policies", "Tracing", "PermissionsBoundary", "AutoPublishAlias",
			"DeploymentPreference", "UseAliasAsEventTarget"), true
	case "AWS::Serverless::Application":
		return names("Location", "TemplateUrl", "Parameters", "NotificationARNs", "Tags", "TimeoutInMinutes"), true
	case typeConnector:
		return names("Source", "Destination", "Permissions"), true
	case typeWebSocketAPI:
		return names("ApiKeySelectionExpression", "AccessLogSettings", "Auth", "DefaultRouteSettings", "Description",
			"DisableExecuteApiEndpoint", "Domain", "DisableSchemaValidation", "FailOnWarnings", "IpAddressType", "Name",
			"PropagateTags", "Routes", "RouteSettings", "RouteSelectionExpression", "StageName", "StageVariables", "Tags"), true
	case typeGraphQLAPI:
		return names("Name", "Tags", "XrayEnabled", "Auth", "SchemaInline", "SchemaUri", "Logging", "DataSources", "Functions",
			"Resolvers", "ApiKeys", "DomainName", "Cache", "Visibility", "OwnerContact", "IntrospectionConfig",
			"QueryDepthLimit", "ResolverCountLimit"), true
	case TypeLambdaFunction:
		// CloudFormation's type: only what ESB leaves out is listed; other
		// names are not checked here (cfn-lint's job).
		return map[string]propRule{
			"Role":              iam(),
			"DeadLetterConfig":  warns("failed asynchronous invocations are not sent to the dead-letter target"),
			"TracingConfig":     notTraced(),
			"VpcConfig":         warns("the function runs on ESB's function network, not in this VPC's subnets and security groups"),
			"FileSystemConfigs": warns("EFS file systems are not mounted"),
			"ImageConfig":       warns("ImageConfig (command, entry point, working directory) is not applied; the image's own CMD and ENTRYPOINT run"),
			"EphemeralStorage":  honoured(),
			"SnapStart":         warns("SnapStart does not apply; every cold start runs the function's initialisation"),
			"LoggingConfig":     honoured(), // see loggingConfig
		}, true
	case TypeAPIKey:
		return map[string]propRule{
			"Name": honoured(), "Value": honoured(), "Enabled": honoured(), "StageKeys": honoured(),
			"Description": inert(), "Tags": inert(),
			"CustomerId":         warns("AWS Marketplace customers are not tracked locally"),
			"GenerateDistinctId": inert(),
		}, true
	case typeCapacity:
		return names("CapacityProviderName", "VpcConfig", "OperatorRole", "Tags", "PropagateTags", "InstanceRequirements",
			"ScalingConfig", "KmsKeyArn"), true
	}
	return nil, false
}

// names makes rules for a resource ESB skips as a whole (with its own
// warning): only the property names are checked.
func names(props ...string) map[string]propRule {
	out := make(map[string]propRule, len(props))
	for _, p := range props {
		out[p] = inert()
	}
	return out
}

// eventPropertyRules are the rules for the properties of an Api, HttpApi,
// Schedule or ScheduleV2 event.
func eventPropertyRules(typ string) (map[string]propRule, bool) {
	switch typ {
	case EventAPI:
		return map[string]propRule{
			"Path": honoured(), "Method": honoured(), "RestApiId": honoured(), "Stage": inert(), "Auth": special(),
			"RequestModel":         warns("the request model is not validated"),
			"RequestParameters":    warns("request parameters are neither required nor validated"),
			"TimeoutInMillis":      honoured(),
			"ResponseTransferMode": warns("responses are not streamed; the function's whole answer is sent at once"),
		}, true
	case "Schedule":
		return map[string]propRule{
			"Schedule": honoured(), "Input": honoured(), "Enabled": honoured(), "State": honoured(), "Name": honoured(),
			"RuleName": inert(), "Description": inert(),
			// EventBridge retries, then dead-letters, only a fire it could
			// not hand to Lambda's asynchronous queue; here the fire is
			// queued in the transaction that records its tick, so neither
			// has anything to do. The function's own errors are retried per
			// its EventInvokeConfig, as on AWS.
			"RetryPolicy":      inert(),
			"DeadLetterConfig": warns("the rule's dead-letter queue is not created and never receives a fire: a fire cannot fail to reach the function's asynchronous queue locally (the function's errors go to its own EventInvokeConfig destinations and DeadLetterQueue)"),
		}, true
	case "ScheduleV2":
		return map[string]propRule{
			"ScheduleExpression": honoured(), "Input": honoured(), "State": honoured(), "Name": honoured(),
			"ScheduleExpressionTimezone": honoured(),
			"Description":                inert(), "GroupName": inert(), "KmsKeyArn": inert(), "OmitName": inert(),
			"RoleArn": iam(), "PermissionsBoundary": iam(),
			// A fire on time is within any flexible window (see
			// scheduleWindow); RetryPolicy and DeadLetterConfig as for
			// Schedule.
			"FlexibleTimeWindow": special(), "StartDate": honoured(), "EndDate": honoured(),
			"RetryPolicy":      inert(),
			"DeadLetterConfig": warns("the schedule's dead-letter queue is not created and never receives a fire: a fire cannot fail to reach the function's asynchronous queue locally (the function's errors go to its own EventInvokeConfig destinations and DeadLetterQueue)"),
		}, true
	case EventSNS:
		return map[string]propRule{
			"Topic": honoured(), "FilterPolicy": honoured(), "FilterPolicyScope": honoured(),
			"SqsSubscription": special(), "Region": inert(),
			"RedrivePolicy": warns("the subscription's own dead-letter queue is not used; a message the function fails goes to its asynchronous destinations (EventInvokeConfig, DeadLetterQueue)"),
		}, true
	case EventS3:
		return map[string]propRule{"Bucket": honoured(), "Events": honoured(), "Filter": special()}, true
	case EventSQS:
		return map[string]propRule{
			"Queue": honoured(), "BatchSize": honoured(), "MaximumBatchingWindowInSeconds": honoured(),
			"FunctionResponseTypes": honoured(), "ScalingConfig": honoured(), "Enabled": honoured(),
			// Refused where read: dropping the filter would invoke the
			// function with messages AWS never hands it.
			"FilterCriteria":          special(),
			"KmsKeyArn":               inert(),
			"MetricsConfig":           warns("event source metrics are not recorded"),
			"ProvisionedPollerConfig": warns("pollers are not provisioned; the events service polls with its own bounds"),
		}, true
	case EventHTTPAPI:
		return map[string]propRule{
			"Path": honoured(), "Method": honoured(), "ApiId": honoured(), "Stage": inert(), "Auth": special(),
			"PayloadFormatVersion": honoured(),
			"TimeoutInMillis":      honoured(),
			"RouteSettings":        notThrottled(),
		}, true
	}
	return nil, false
}

// checkProperties applies rules to the properties of o (a resource's, with
// Globals merged in, or an event's): unknown names are an error, as in the
// transform; unapplied ones are warned about where they are written.
func (p *parser) checkProperties(o obj, typ string, rules map[string]propRule) {
	for _, kv := range pairs(o.n) {
		path := p.pathOf(kv.val, joinPath(o.path, kv.key))
		rule, known := rules[kv.key]
		switch {
		case !known && typ == TypeLambdaFunction:
		case !known:
			hint := ""
			if near := nearest(kv.key, ruleNames(rules)); near != "" {
				hint = " (did you mean " + near + "?)"
			}
			p.d.add(p.d.errf(kv.knode, path, "%s is not a property of %s; the transform rejects it%s", quote(kv.key), typ, hint))
		case rule.kind == propWarn:
			if !isNull(kv.val) {
				p.d.warn(kv.knode, path, "%s", rule.msg)
			}
		case rule.kind == propIAM:
			p.warnIAM(kv.knode, path)
		}
	}
}

// nearest returns the name closest to s when it is a likely typo (case, or
// at most two edits away), else "".
func nearest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		d := editDistance(strings.ToLower(s), strings.ToLower(n))
		if d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func ruleNames(rules map[string]propRule) []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// warnIAM says once per template that IAM is not enforced: said at every
// Role and Policies it would bury the other warnings.
func (p *parser) warnIAM(at *yaml.Node, path string) {
	if p.iamWarned {
		return
	}
	p.iamWarned = true
	p.d.warn(at, path, "IAM (roles, policies, connectors, permission boundaries) is not enforced locally; functions reach every local service whatever their permissions, so code that AWS would deny runs here")
}
