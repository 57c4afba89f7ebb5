package runtimeconfig

import (
	"fmt"
	"maps"
	"slices"
)

// Merge applies a deploy to the existing aggregate (base): add or overwrite,
// never delete; where both define the same thing, deploy wins.
//
//   - functions: by name, the whole entry replaced.
//   - defaults: existing keys kept, missing ones added, recursively (so an
//     existing environment variable keeps its value and a new one is added).
//   - routes: by (api, path, method), replaced in place so the order the
//     gateway matches in does not move; new routes appended in deploy
//     order. A route of an older file, which names no API, is the same
//     route as a deploy's route of any API with its path and method: it
//     was written for that route before routes had an API.
//   - api_keys by name: replaced in place, else appended.
//   - dynamodb by TableName, s3 by BucketName, layers by Name: replaced in
//     place, else appended.
//   - a resource kind with no merge key (anything in Resources.Extra) is kept
//     when base has it and skipped, with a warning naming it, when deploy
//     brings it: merging it by guesswork could duplicate or drop entries.
//   - unknown top-level keys of a file: added or overwritten.
//
// Merge is pure: it changes neither input and shares no map or slice with
// them. The warnings are for the user; the result is not validated.
func Merge(base, deploy Config) (Config, []string) {
	out := base.Clone()
	in := deploy.Clone()
	var warnings []string

	if out.Functions.Functions == nil {
		out.Functions.Functions = make(map[string]Function, len(in.Functions.Functions))
	}
	maps.Copy(out.Functions.Functions, in.Functions.Functions)
	out.Functions.Defaults.Environment = keepAndAdd(out.Functions.Defaults.Environment, in.Functions.Defaults.Environment)
	out.Functions.Defaults.Extra = keepAndAddValues(out.Functions.Defaults.Extra, in.Functions.Defaults.Extra)
	out.Functions.Extra = overwrite(out.Functions.Extra, in.Functions.Extra)

	out.Routing.Routes = mergeRoutes(out.Routing.Routes, in.Routing.Routes)
	if out.Routing.Routes == nil {
		out.Routing.Routes = []Route{}
	}
	out.Routing.APIKeys = mergeByKey(out.Routing.APIKeys, in.Routing.APIKeys, func(k APIKey) string { return k.Name })
	out.Routing.Extra = overwrite(out.Routing.Extra, in.Routing.Extra)

	res := &out.Resources.Resources
	res.DynamoDB = mergeByKey(res.DynamoDB, in.Resources.Resources.DynamoDB, func(t DynamoDBTable) string { return t.TableName })
	res.S3 = mergeByKey(res.S3, in.Resources.Resources.S3, func(b S3Bucket) string { return b.BucketName })
	res.Layers = mergeByKey(res.Layers, in.Resources.Resources.Layers, func(l Layer) string { return l.Name })
	res.SQS = mergeByKey(res.SQS, in.Resources.Resources.SQS, func(q SQSQueue) string { return q.QueueName })
	res.SNS = mergeByKey(res.SNS, in.Resources.Resources.SNS, func(t SNSTopic) string { return t.TopicName })
	res.SNSSubscriptions = mergeByKey(res.SNSSubscriptions, in.Resources.Resources.SNSSubscriptions, SNSSubscription.Key)
	for _, kind := range slices.Sorted(maps.Keys(in.Resources.Resources.Extra)) {
		warnings = append(warnings, fmt.Sprintf("%s: skipped resource kind %q from the deploy: no merge key is defined for it", ResourcesFileName, kind))
	}
	out.Resources.Extra = overwrite(out.Resources.Extra, in.Resources.Extra)

	return out, warnings
}

// mergeByKey replaces entries of base whose key deploy also has, in place,
// and appends the rest of deploy in its order. base must be owned by the
// caller: it is written to.
func mergeByKey[T any, K comparable](base, deploy []T, key func(T) K) []T {
	index := make(map[K]int, len(base))
	for i, v := range base {
		if _, seen := index[key(v)]; !seen {
			index[key(v)] = i
		}
	}
	for _, v := range deploy {
		k := key(v)
		if i, ok := index[k]; ok {
			base[i] = v
			continue
		}
		index[k] = len(base)
		base = append(base, v)
	}
	return base
}

// mergeRoutes is mergeByKey for routes, where a base route with no API
// matches a deploy route of the same path and method.
func mergeRoutes(base, deploy []Route) []Route {
	legacy := make(map[RouteKey]int)
	for i, r := range base {
		if r.API == "" {
			if _, seen := legacy[r.Key()]; !seen {
				legacy[r.Key()] = i
			}
		}
	}
	var rest []Route
	for _, r := range deploy {
		k := r.Key()
		k.API = ""
		if i, ok := legacy[k]; ok && r.API != "" {
			base[i] = r
			delete(legacy, k) // a second API's route of that path is its own
			continue
		}
		rest = append(rest, r)
	}
	return mergeByKey(base, rest, Route.Key)
}

// keepAndAdd adds the keys of add that base lacks; base's values win.
func keepAndAdd[V any](base, add map[string]V) map[string]V {
	for k, v := range add {
		if _, ok := base[k]; ok {
			continue
		}
		if base == nil {
			base = make(map[string]V, len(add))
		}
		base[k] = v
	}
	return base
}

// keepAndAddValues is keepAndAdd for decoded YAML, descending into maps both
// sides have so that a nested key missing from base is added too.
func keepAndAddValues(base, add map[string]any) map[string]any {
	for k, v := range add {
		existing, ok := base[k]
		if !ok {
			if base == nil {
				base = make(map[string]any, len(add))
			}
			base[k] = v
			continue
		}
		bm, bok := existing.(map[string]any)
		am, aok := v.(map[string]any)
		if bok && aok {
			base[k] = keepAndAddValues(bm, am)
		}
	}
	return base
}

// overwrite sets every key of add in base; add's values win.
func overwrite(base, add map[string]any) map[string]any {
	if len(add) == 0 {
		return base
	}
	if base == nil {
		base = make(map[string]any, len(add))
	}
	maps.Copy(base, add)
	return base
}
