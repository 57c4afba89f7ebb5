package platform

import "sort"

// Service is a long-running platform service of an env.
type Service struct {
	Name string // compose service name
	Role string // what it does, for people
}

// Services lists the long-running services every env runs (docker mode).
// One-shot services (the provisioner) are not listed: they are not meant
// to run.
func Services() []Service {
	return []Service{
		{Name: "registry", Role: "image registry"},
		{Name: "s3-storage", Role: "S3 API"},
		{Name: "database", Role: "DynamoDB API"},
		{Name: "logs", Role: "log store"},
		{Name: "messaging", Role: "SQS and SNS APIs"},
		{Name: "dagger-engine", Role: "deploy pipeline engine"},
		{Name: "agent", Role: "function containers"},
		{Name: "gateway", Role: "API Gateway and Lambda API"},
		{Name: "events", Role: "schedules and asynchronous invocations"},
	}
}

// Expected is Services plus containerd mode's runtime-node and nodekeeper
// when the env runs a runtime-node, which the observed containers tell.
func Expected(observed []ContainerState) []Service {
	out := Services()
	for _, c := range observed {
		if c.Service == "runtime-node" {
			return append(out, Service{Name: "runtime-node", Role: "containerd node (containerd mode)"},
				Service{Name: "nodekeeper", Role: "restarts what joins runtime-node (containerd mode)"})
		}
	}
	return out
}

// ContainerState is what the container runtime reports for one container of
// a compose service.
type ContainerState struct {
	Service string
	State   string // running, exited, restarting...
	Health  string // healthy, unhealthy, starting, or "" without a healthcheck
}

// ServiceStatus is one row of `esb status`.
type ServiceStatus struct {
	Service
	State  string // "missing" when no container exists
	Health string
}

// OK reports whether the service runs and, if it has a healthcheck, passes it.
func (s ServiceStatus) OK() bool {
	return s.State == "running" && (s.Health == "" || s.Health == "healthy")
}

// Status matches observed containers to the expected services. Containers of
// services not in the list (a provisioner run, a future service) are
// reported after the expected ones.
func Status(expected []Service, observed []ContainerState) []ServiceStatus {
	byName := make(map[string]ContainerState, len(observed))
	for _, c := range observed {
		// With several containers per service, a running one is the answer.
		if prev, ok := byName[c.Service]; ok && prev.State == "running" {
			continue
		}
		byName[c.Service] = c
	}
	out := make([]ServiceStatus, 0, len(expected))
	known := make(map[string]bool, len(expected))
	for _, s := range expected {
		known[s.Name] = true
		row := ServiceStatus{Service: s, State: "missing"}
		if c, ok := byName[s.Name]; ok {
			row.State, row.Health = c.State, c.Health
		}
		out = append(out, row)
	}
	var extra []ServiceStatus
	for name, c := range byName {
		if !known[name] {
			extra = append(extra, ServiceStatus{Service: Service{Name: name}, State: c.State, Health: c.Health})
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Name < extra[j].Name })
	return append(out, extra...)
}
