package sam

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// EventS3 is the SAM event type of an S3 bucket notification.
const EventS3 = "S3"

// S3Event is an S3 event of a function: the bucket's notifications of
// Events on keys that match Prefix and Suffix invoke the function
// asynchronously.
type S3Event struct {
	Event  string
	Bucket string   // the bucket's name
	Events []string // s3:ObjectCreated:*, s3:ObjectRemoved:Delete...
	Prefix string
	Suffix string

	node *yaml.Node // the event's Bucket, for messages
	path string
}

// s3EventTypes are the notification types S3 defines; delivered says
// whether the env's S3 service (versitygw) ever emits one of them.
var s3EventTypes = map[string]bool{
	"s3:ObjectCreated:*": true, "s3:ObjectCreated:Put": true, "s3:ObjectCreated:Post": true,
	"s3:ObjectCreated:Copy": true, "s3:ObjectCreated:CompleteMultipartUpload": true,
	"s3:ObjectRemoved:*": true, "s3:ObjectRemoved:Delete": true, "s3:ObjectRemoved:DeleteMarkerCreated": false,
	"s3:ObjectTagging:*": true, "s3:ObjectTagging:Put": true, "s3:ObjectTagging:Delete": true,
	"s3:ObjectAcl:Put":   true,
	"s3:ObjectRestore:*": true, "s3:ObjectRestore:Post": true, "s3:ObjectRestore:Completed": true,
	"s3:ObjectRestore:Delete":        false,
	"s3:ReducedRedundancyLostObject": false,
	"s3:Replication:*":               false, "s3:Replication:OperationFailedReplication": false,
	"s3:Replication:OperationMissedThreshold": false, "s3:Replication:OperationReplicatedAfterThreshold": false,
	"s3:Replication:OperationNotTracked": false,
	"s3:LifecycleExpiration:*":           false, "s3:LifecycleExpiration:Delete": false,
	"s3:LifecycleExpiration:DeleteMarkerCreated": false,
	"s3:LifecycleTransition":                     false,
	"s3:IntelligentTiering":                      false,
	"s3:TestEvent":                               false,
}

func (p *parser) s3Event(name string, props obj, f *Function) {
	rules, _ := eventPropertyRules(EventS3)
	p.checkProperties(props, "an S3 event", rules)
	bucket, ok := p.required(props, "Bucket", " (!Ref of an AWS::S3::Bucket of this template)")
	if !ok {
		return
	}
	e := S3Event{Event: name, Bucket: bucket.s, node: bucket.n, path: bucket.path}
	evNode, evPath := p.field(props, "Events")
	switch {
	case evNode == nil:
		p.d.add(p.d.errf(props.n, joinPath(props.path, "Events"), "required (e.g. s3:ObjectCreated:*)"))
		return
	case evNode.Kind == yaml.ScalarNode:
		e.Events = p.s3EventTypes([]value{{s: evNode.Value, n: evNode, path: evPath}})
	default:
		vs, ok := p.strList(props, "Events")
		if !ok {
			return
		}
		e.Events = p.s3EventTypes(vs)
	}
	if len(e.Events) == 0 {
		return
	}
	if filter, ok := p.object(props, "Filter"); ok {
		if !p.s3KeyFilter(filter, &e) {
			return
		}
	}
	f.S3Events = append(f.S3Events, e)
}

// s3EventTypes checks the event types: unknown ones are errors (S3
// refuses the configuration), ones the env never emits are warned about.
func (p *parser) s3EventTypes(vs []value) []string {
	var out []string
	for _, v := range vs {
		delivered, known := s3EventTypes[v.s]
		switch {
		case !known:
			p.d.add(p.d.errf(v.n, v.path, "%s is not an S3 event type (e.g. s3:ObjectCreated:*, s3:ObjectRemoved:Delete)", quote(v.s)))
			continue
		case !delivered:
			p.d.warn(v.n, v.path, "%s never happens locally (the env's S3 service has no versioning delete markers, replication, lifecycle, tiering or lost objects); the function is not invoked for it", v.s)
		}
		out = append(out, v.s)
	}
	return out
}

// s3KeyFilter reads Filter.S3Key.Rules: at most one prefix and one
// suffix rule, as S3 takes them.
func (p *parser) s3KeyFilter(filter obj, e *S3Event) bool {
	p.checkProperties(filter, "an S3 event's Filter", map[string]propRule{"S3Key": honoured()})
	key, ok := p.object(filter, "S3Key")
	if !ok {
		return true
	}
	p.checkProperties(key, "an S3 event's Filter.S3Key", map[string]propRule{"Rules": honoured()})
	good := true
	seen := map[string]bool{}
	for _, rule := range p.objects(key, "Rules") {
		p.checkProperties(rule, "an S3 key filter rule", map[string]propRule{"Name": honoured(), "Value": honoured()})
		n, ok1 := p.required(rule, "Name", " (prefix or suffix)")
		v, ok2 := p.required(rule, "Value", "")
		if !ok1 || !ok2 {
			good = false
			continue
		}
		kind := strings.ToLower(n.s)
		if kind != "prefix" && kind != "suffix" {
			p.d.add(p.d.errf(n.n, n.path, "filter rule name %s is not prefix or suffix", quote(n.s)))
			good = false
			continue
		}
		if seen[kind] {
			p.d.add(p.d.errf(n.n, n.path, "a second %s rule (S3 takes one prefix and one suffix)", kind))
			good = false
			continue
		}
		seen[kind] = true
		if kind == "prefix" {
			e.Prefix = v.s
		} else {
			e.Suffix = v.s
		}
	}
	return good
}

// bucketNotification is a LambdaConfigurations entry of a bucket: the
// CloudFormation form of an S3 event, which the SAM transform writes.
type bucketNotification struct {
	event    S3Event
	function value // the function's ARN
}

// bucketNotifications reads a bucket's NotificationConfiguration: its
// LambdaConfigurations invoke functions of the template, as S3 events
// do; queue, topic and EventBridge configurations are warned about.
func (p *parser) bucketNotifications(o obj, b *Bucket) {
	nc, ok := p.object(o, "NotificationConfiguration")
	if !ok {
		return
	}
	p.checkProperties(nc, "an S3 NotificationConfiguration", map[string]propRule{
		"LambdaConfigurations":     honoured(),
		"QueueConfigurations":      warns("S3 notifications to queues are not delivered locally; give a function an S3 event instead"),
		"TopicConfigurations":      warns("S3 notifications to topics are not delivered locally; give a function an S3 event instead"),
		"EventBridgeConfiguration": warns("S3 events are not sent to EventBridge locally (the env has no event bus)"),
	})
	for i, lc := range p.objects(nc, "LambdaConfigurations") {
		p.checkProperties(lc, "an S3 LambdaConfiguration", map[string]propRule{"Event": honoured(), "Function": honoured(), "Filter": special()})
		ev, ok1 := p.required(lc, "Event", " (e.g. s3:ObjectCreated:*)")
		fn, ok2 := p.required(lc, "Function", " (!GetAtt MyFunction.Arn)")
		if !ok1 || !ok2 {
			continue
		}
		e := S3Event{Event: fmt.Sprintf("%sNotification%d", b.LogicalID, i), Bucket: b.BucketName, node: fn.n, path: fn.path}
		if e.Events = p.s3EventTypes([]value{ev}); len(e.Events) == 0 {
			continue
		}
		if filter, ok := p.object(lc, "Filter"); ok && !p.s3KeyFilter(filter, &e) {
			continue
		}
		b.notifications = append(b.notifications, bucketNotification{event: e, function: fn})
	}
}

// checkS3Events applies SAM's rule that an S3 event's bucket is a bucket
// of the same template (the transform writes the notification into that
// bucket's NotificationConfiguration), and hands each bucket's
// LambdaConfigurations to the function it names, which must be one of the
// template's (there is no other function to invoke locally).
func (p *parser) checkS3Events(t *Template) {
	names := map[string]bool{}
	for _, b := range t.Buckets {
		names[b.BucketName] = true
		for _, n := range b.notifications {
			i := slices.IndexFunc(t.Functions, func(f Function) bool { return p.arn("lambda", "function:"+f.Name) == n.function.s })
			if i < 0 {
				p.d.add(p.d.errf(n.function.n, n.function.path, "%s is not a function of this template (!GetAtt MyFunction.Arn); the notification would invoke nothing locally", quote(n.function.s)))
				continue
			}
			t.Functions[i].S3Events = append(t.Functions[i].S3Events, n.event)
		}
	}
	for _, f := range t.Functions {
		for _, e := range f.S3Events {
			if !names[e.Bucket] {
				p.d.add(p.d.errf(e.node, e.path, "bucket %s is not an AWS::S3::Bucket of this template (SAM takes only !Ref of one)", quote(e.Bucket)))
			}
		}
	}
}
