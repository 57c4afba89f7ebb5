package platform

// The operator's settings the compose files hand the gateway: its root
// key (which signs Invoke API calls), its region, and whether its plain
// HTTP port listens. A client of the env on this host reads the same
// variables, with the same defaults, to reach the gateway as the env was
// started.
const (
	AccessKeyIDVar         = "ESB_ACCESS_KEY_ID"
	DefaultAccessKeyID     = "esb"
	SecretAccessKeyVar     = "ESB_SECRET_ACCESS_KEY"
	DefaultSecretAccessKey = "esb-local-secret"
	RegionVar              = "ESB_AWS_REGION"
	// GatewayHTTPVar is "off" when the gateway answers on HTTPS alone.
	GatewayHTTPVar = "ESB_GATEWAY_HTTP"
)
