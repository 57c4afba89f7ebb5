package runtimeconfig

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of c that shares no map or slice with it. Merge
// builds its result from clones so that neither input can be changed
// through the result, nor the result through an input. Nil maps and slices
// stay nil, so a clone compares equal to its original.
func (c Config) Clone() Config {
	return Config{
		Functions: c.Functions.clone(),
		Routing:   c.Routing.clone(),
		Resources: c.Resources.clone(),
	}
}

func (f FunctionsFile) clone() FunctionsFile {
	out := FunctionsFile{
		Defaults: Defaults{
			Environment: maps.Clone(f.Defaults.Environment),
			Extra:       cloneExtra(f.Defaults.Extra),
		},
		Extra: cloneExtra(f.Extra),
	}
	if f.Functions != nil {
		out.Functions = make(map[string]Function, len(f.Functions))
		for name, fn := range f.Functions {
			out.Functions[name] = fn.clone()
		}
	}
	return out
}

func (fn Function) clone() Function {
	out := fn
	out.Architectures = cloneSlice(fn.Architectures)
	out.Environment = maps.Clone(fn.Environment)
	out.Layers = cloneSlice(fn.Layers)
	out.Scaling.Extra = cloneExtra(fn.Scaling.Extra)
	out.Schedules = cloneEach(fn.Schedules, func(s Schedule) Schedule {
		if s.Enabled != nil {
			enabled := *s.Enabled
			s.Enabled = &enabled
		}
		s.Extra = cloneExtra(s.Extra)
		return s
	})
	out.EventSources = cloneEach(fn.EventSources, func(e EventSource) EventSource {
		if e.Enabled != nil {
			enabled := *e.Enabled
			e.Enabled = &enabled
		}
		e.Events = cloneSlice(e.Events)
		e.Extra = cloneExtra(e.Extra)
		return e
	})
	if fn.Async != nil {
		a := *fn.Async
		if a.MaximumRetryAttempts != nil {
			n := *a.MaximumRetryAttempts
			a.MaximumRetryAttempts = &n
		}
		a.Extra = cloneExtra(a.Extra)
		out.Async = &a
	}
	if fn.URL != nil {
		u := *fn.URL
		u.Cors = u.Cors.clone()
		u.Extra = cloneExtra(u.Extra)
		out.URL = &u
	}
	out.Extra = cloneExtra(fn.Extra)
	return out
}

func (r RoutingFile) clone() RoutingFile {
	return RoutingFile{
		Routes: cloneEach(r.Routes, func(rt Route) Route {
			rt.Extra = cloneExtra(rt.Extra)
			rt.Auth = rt.Auth.clone()
			rt.Cors = rt.Cors.clone()
			return rt
		}),
		APIKeys: cloneEach(r.APIKeys, func(k APIKey) APIKey {
			k.Stages = cloneEach(k.Stages, func(s APIStage) APIStage {
				s.Extra = cloneExtra(s.Extra)
				return s
			})
			k.Extra = cloneExtra(k.Extra)
			return k
		}),
		Extra: cloneExtra(r.Extra),
	}
}

func (r ResourcesFile) clone() ResourcesFile {
	return ResourcesFile{
		Resources: Resources{
			DynamoDB: cloneEach(r.Resources.DynamoDB, DynamoDBTable.clone),
			S3: cloneEach(r.Resources.S3, func(b S3Bucket) S3Bucket {
				b.LifecycleConfiguration = cloneExtra(b.LifecycleConfiguration)
				b.Extra = cloneExtra(b.Extra)
				return b
			}),
			Layers: cloneEach(r.Resources.Layers, func(l Layer) Layer {
				l.CompatibleRuntimes = cloneSlice(l.CompatibleRuntimes)
				l.Extra = cloneExtra(l.Extra)
				return l
			}),
			SQS: cloneEach(r.Resources.SQS, func(q SQSQueue) SQSQueue {
				q.Attributes = maps.Clone(q.Attributes)
				q.Extra = cloneExtra(q.Extra)
				return q
			}),
			SNS: cloneEach(r.Resources.SNS, func(t SNSTopic) SNSTopic {
				t.Attributes = maps.Clone(t.Attributes)
				t.Extra = cloneExtra(t.Extra)
				return t
			}),
			SNSSubscriptions: cloneEach(r.Resources.SNSSubscriptions, func(s SNSSubscription) SNSSubscription {
				s.Attributes = maps.Clone(s.Attributes)
				s.Extra = cloneExtra(s.Extra)
				return s
			}),
			Extra: cloneExtra(r.Resources.Extra),
		},
		Extra: cloneExtra(r.Extra),
	}
}

func (t DynamoDBTable) clone() DynamoDBTable {
	out := t
	out.KeySchema = cloneKeySchema(t.KeySchema)
	out.AttributeDefinitions = cloneEach(t.AttributeDefinitions, func(a AttributeDefinition) AttributeDefinition {
		a.Extra = cloneExtra(a.Extra)
		return a
	})
	out.ProvisionedThroughput = t.ProvisionedThroughput.clone()
	out.GlobalSecondaryIndexes = cloneEach(t.GlobalSecondaryIndexes, SecondaryIndex.clone)
	out.LocalSecondaryIndexes = cloneEach(t.LocalSecondaryIndexes, SecondaryIndex.clone)
	out.StreamSpecification = cloneExtra(t.StreamSpecification)
	out.TimeToLiveSpecification = cloneExtra(t.TimeToLiveSpecification)
	out.Extra = cloneExtra(t.Extra)
	return out
}

func (s SecondaryIndex) clone() SecondaryIndex {
	out := s
	out.KeySchema = cloneKeySchema(s.KeySchema)
	out.Projection.NonKeyAttributes = cloneSlice(s.Projection.NonKeyAttributes)
	out.Projection.Extra = cloneExtra(s.Projection.Extra)
	out.ProvisionedThroughput = s.ProvisionedThroughput.clone()
	out.Extra = cloneExtra(s.Extra)
	return out
}

func (p *ProvisionedThroughput) clone() *ProvisionedThroughput {
	if p == nil {
		return nil
	}
	out := *p
	out.Extra = cloneExtra(p.Extra)
	return &out
}

func cloneKeySchema(ks []KeySchemaElement) []KeySchemaElement {
	return cloneEach(ks, func(k KeySchemaElement) KeySchemaElement {
		k.Extra = cloneExtra(k.Extra)
		return k
	})
}

// cloneSlice copies s, keeping nil as nil.
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// cloneEach copies s element by element through clone, keeping nil as nil.
func cloneEach[T any](s []T, clone func(T) T) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = clone(v)
	}
	return out
}

// cloneExtra deep-copies a map of decoded YAML values.
func cloneExtra(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue deep-copies a decoded YAML value. yaml.v3 produces only these
// container types; scalars (including time.Time) are values already.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneExtra(v)
	case map[any]any:
		out := make(map[any]any, len(v))
		for k, e := range v {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		return cloneEach(v, cloneValue)
	default:
		return v
	}
}

func (a *RouteAuth) clone() *RouteAuth {
	if a == nil {
		return nil
	}
	out := *a
	out.Extra = cloneExtra(a.Extra)
	if a.Authorizer != nil {
		az := *a.Authorizer
		az.IdentitySources = slices.Clone(az.IdentitySources)
		az.Audience = slices.Clone(az.Audience)
		az.Scopes = slices.Clone(az.Scopes)
		az.Extra = cloneExtra(az.Extra)
		out.Authorizer = &az
	}
	return &out
}

func (c *Cors) clone() *Cors {
	if c == nil {
		return nil
	}
	out := *c
	out.AllowOrigins = slices.Clone(c.AllowOrigins)
	out.AllowMethods = slices.Clone(c.AllowMethods)
	out.AllowHeaders = slices.Clone(c.AllowHeaders)
	out.ExposeHeaders = slices.Clone(c.ExposeHeaders)
	if c.MaxAge != nil {
		v := *c.MaxAge
		out.MaxAge = &v
	}
	out.PreflightAuth = c.PreflightAuth.clone()
	out.Extra = cloneExtra(c.Extra)
	return &out
}
