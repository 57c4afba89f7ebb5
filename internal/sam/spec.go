package sam

// The SAM specification's property lists, as the transform checks them:
// a property a resource type does not define, or a Globals property a
// section does not take, makes the transform reject the template. They
// are functions rather than package variables so nothing can change them.

// globalsProperties lists, per Globals section, the properties it may set.
// An unknown section returns ok false.
func globalsProperties(section string) (props []string, ok bool) {
	switch section {
	case "Function":
		return []string{"Handler", "Runtime", "CodeUri", "DeadLetterQueue", "Description", "MemorySize", "Timeout",
			"VpcConfig", "Environment", "Tags", "PropagateTags", "Tracing", "KmsKeyArn", "AutoPublishAlias",
			"AutoPublishAliasAllProperties", "Layers", "DeploymentPreference", "RolePath", "PermissionsBoundary",
			"ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig", "AssumeRolePolicyDocument",
			"EventInvokeConfig", "FileSystemConfigs", "CodeSigningConfigArn", "Architectures", "SnapStart",
			"EphemeralStorage", "FunctionUrlConfig", "RuntimeManagementConfig", "LoggingConfig", "RecursiveLoop",
			"SourceKMSKeyArn", "TenancyConfig", "DurableConfig", "CapacityProviderConfig", "FunctionScalingConfig",
			"PublishToLatestPublished", "VersionDeletionPolicy"}, true
	case "Api":
		return []string{"Auth", "Name", "DefinitionUri", "CacheClusterEnabled", "CacheClusterSize", "MergeDefinitions",
			"Variables", "EndpointConfiguration", "MethodSettings", "BinaryMediaTypes", "MinimumCompressionSize",
			"Cors", "GatewayResponses", "AccessLogSetting", "CanarySetting", "TracingEnabled", "OpenApiVersion",
			"Domain", "AlwaysDeploy", "PropagateTags", "SecurityPolicy", "EndpointAccessMode"}, true
	case "HttpApi":
		return []string{"Auth", "AccessLogSettings", "StageVariables", "Tags", "CorsConfiguration",
			"DefaultRouteSettings", "Domain", "RouteSettings", "FailOnWarnings", "PropagateTags"}, true
	case "SimpleTable":
		return []string{"SSESpecification"}, true
	case "StateMachine":
		return []string{"PropagateTags"}, true
	case "LayerVersion":
		return []string{"PublishLambdaVersion"}, true
	case "CapacityProvider":
		return []string{"VpcConfig", "OperatorRole", "Tags", "InstanceRequirements", "ScalingConfig", "KmsKeyArn", "PropagateTags"}, true
	case "WebSocketApi":
		return []string{"AccessLogSettings", "ApiKeySelectionExpression", "DefaultRouteSettings",
			"DisableExecuteApiEndpoint", "DisableSchemaValidation", "Domain", "FailOnWarnings", "IpAddressType",
			"PropagateTags", "RouteSelectionExpression", "RouteSettings", "StageVariables", "Tags"}, true
	}
	return nil, false
}

// globalsSections names the sections Globals may have, for messages.
func globalsSections() []string {
	return []string{"Api", "CapacityProvider", "Function", "HttpApi", "LayerVersion", "SimpleTable", "StateMachine", "WebSocketApi"}
}
