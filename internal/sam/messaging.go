package sam

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Resource types of the env's messaging service.
const (
	TypeSQSQueue        = typeSQSQueue
	TypeSNSTopic        = typeSNSTopic
	TypeSNSSubscription = "AWS::SNS::Subscription"
)

var (
	queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	topicNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

// Queue is an AWS::SQS::Queue. Attributes are in the SQS API's form
// (CreateQueue's names, string values, RedrivePolicy as JSON).
type Queue struct {
	LogicalID  string
	QueueName  string
	Attributes map[string]string
}

// Topic is an AWS::SNS::Topic; its inline Subscription list becomes
// Subscriptions of the template.
type Topic struct {
	LogicalID  string
	TopicName  string
	Attributes map[string]string
}

// Subscription is an AWS::SNS::Subscription or an entry of a topic's
// Subscription property.
type Subscription struct {
	LogicalID  string // of the subscription, or of the topic that lists it
	TopicArn   string
	Protocol   string
	Endpoint   string
	Attributes map[string]string
}

// queueProperty says how a CloudFormation property of AWS::SQS::Queue
// becomes a CreateQueue attribute.
type queueProperty struct {
	kind     string // "int", "bool", "enum" or "json"
	min, max int
	allowed  []string
}

func queueProperties() map[string]queueProperty {
	return map[string]queueProperty{
		"DelaySeconds":                  {kind: "int", max: 900},
		"MaximumMessageSize":            {kind: "int", min: 1024, max: 1048576},
		"MessageRetentionPeriod":        {kind: "int", min: 60, max: 1209600},
		"ReceiveMessageWaitTimeSeconds": {kind: "int", max: 20},
		"VisibilityTimeout":             {kind: "int", max: 43200},
		"FifoQueue":                     {kind: "bool"},
		"ContentBasedDeduplication":     {kind: "bool"},
		"DeduplicationScope":            {kind: "enum", allowed: []string{"messageGroup", "queue"}},
		"FifoThroughputLimit":           {kind: "enum", allowed: []string{"perQueue", "perMessageGroupId"}},
		"RedrivePolicy":                 {kind: "json"},
		"RedriveAllowPolicy":            {kind: "json"},
	}
}

// notApplied are properties of queues and topics that change nothing a
// function can observe locally; each is warned about, never an error.
var notApplied = map[string]string{
	"KmsMasterKeyId":               "messages are stored unencrypted on the messaging volume",
	"KmsDataKeyReusePeriodSeconds": "messages are stored unencrypted on the messaging volume",
	"SqsManagedSseEnabled":         "messages are stored unencrypted on the messaging volume",
	"Tags":                         "tags are not kept",
	"DataProtectionPolicy":         "no data protection policy is enforced",
	"DeliveryStatusLogging":        "delivery status is not logged",
	"SignatureVersion":             "messages are not signed",
	"TracingConfig":                "no tracing",
	"ArchivePolicy":                "messages are not archived",
	"DisplayName":                  "used by SMS and email only, which are not delivered",
	"FifoThroughputScope":          "no throughput limit is enforced",
}

func (p *parser) readQueue(r *rawResource) (Queue, bool) {
	before := len(p.d.errs)
	o := p.props(r, "")
	q := Queue{LogicalID: r.id, Attributes: map[string]string{}}
	name, err := p.physicalName(r.node, r.id, r.path)
	if err != nil {
		p.d.add(err)
	}
	q.QueueName = name
	rules := queueProperties()
	for _, kv := range pairs(o.n) {
		key := kv.key
		switch {
		case key == "QueueName":
		case notApplied[key] != "":
			p.d.warn(kv.knode, o.path+"."+key, "%s is not applied: %s", key, notApplied[key])
		default:
			rule, ok := rules[key]
			if !ok {
				p.d.add(p.d.errf(kv.knode, o.path+"."+key, "AWS::SQS::Queue has no property %s", quote(key)))
				continue
			}
			if v, ok := p.attribute(o, key, rule); ok {
				q.Attributes[key] = v
			}
		}
	}
	fifo := q.Attributes["FifoQueue"] == "true"
	if v, ok := p.str(o, "QueueName"); ok {
		base, isFifo := strings.CutSuffix(v.s, ".fifo")
		switch {
		case !queueNamePattern.MatchString(base):
			p.d.add(p.d.errf(v.n, v.path, "invalid queue name %s (1 to 80 letters, digits, '-' or '_', plus .fifo for a FIFO queue)", quote(v.s)))
		case isFifo != fifo:
			p.d.add(p.d.errf(v.n, v.path, "a FIFO queue's name ends in .fifo and only a FIFO queue's does (FifoQueue is %t)", fifo))
		}
	}
	if !fifo {
		for _, key := range []string{"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"} {
			if _, set := q.Attributes[key]; set {
				n, path := p.field(o, key)
				p.d.add(p.d.errf(n, path, "%s is for FIFO queues only (set FifoQueue: true)", key))
			}
		}
	}
	if len(q.Attributes) == 0 {
		q.Attributes = nil
	}
	return q, len(p.d.errs) == before
}

// attribute converts one queue or topic property to the API's string form.
func (p *parser) attribute(o obj, key string, rule queueProperty) (string, bool) {
	switch rule.kind {
	case "int":
		before := len(p.d.errs)
		i := p.integer(o, key, -1, rule.min, rule.max)
		return strconv.Itoa(i), len(p.d.errs) == before && i >= 0
	case "bool":
		b := p.boolean(o, key)
		return strconv.FormatBool(b != nil && *b), b != nil
	case "enum":
		v, ok := p.str(o, key)
		return v.s, ok && p.oneOf(v, rule.allowed...)
	case "json":
		v, path := p.field(o, key)
		if v == nil {
			return "", false
		}
		if v.Kind == yaml.ScalarNode {
			// CloudFormation also takes the policy as a JSON string.
			var m map[string]any
			if err := json.Unmarshal([]byte(v.Value), &m); err != nil {
				p.d.add(p.d.errf(v, path, "want a mapping or its JSON, got %s", describe(v)))
				return "", false
			}
			return v.Value, true
		}
		m := p.plain(o, key)
		if m == nil {
			return "", false
		}
		b, err := json.Marshal(m)
		if err != nil {
			p.d.add(p.d.errorAt(v, path, err))
			return "", false
		}
		return string(b), true
	}
	return "", false
}

func (p *parser) readTopic(r *rawResource) (Topic, []Subscription, bool) {
	before := len(p.d.errs)
	o := p.props(r, "")
	t := Topic{LogicalID: r.id, Attributes: map[string]string{}}
	name, err := p.physicalName(r.node, r.id, r.path)
	if err != nil {
		p.d.add(err)
	}
	t.TopicName = name
	var subs []Subscription
	for _, kv := range pairs(o.n) {
		key := kv.key
		switch {
		case key == "TopicName":
		case key == "FifoTopic", key == "ContentBasedDeduplication":
			if v, ok := p.attribute(o, key, queueProperty{kind: "bool"}); ok {
				t.Attributes[key] = v
			}
		case key == "Subscription":
			for _, s := range p.objects(o, key) {
				sub, ok := p.subscription(s, r.id)
				if ok {
					sub.TopicArn = p.arn("sns", name)
					subs = append(subs, sub)
				}
			}
		case notApplied[key] != "":
			p.d.warn(kv.knode, o.path+"."+key, "%s is not applied: %s", key, notApplied[key])
		default:
			p.d.add(p.d.errf(kv.knode, o.path+"."+key, "AWS::SNS::Topic has no property %s", quote(key)))
		}
	}
	fifo := t.Attributes["FifoTopic"] == "true"
	if v, ok := p.str(o, "TopicName"); ok {
		base, isFifo := strings.CutSuffix(v.s, ".fifo")
		switch {
		case !topicNamePattern.MatchString(base):
			p.d.add(p.d.errf(v.n, v.path, "invalid topic name %s (1 to 256 letters, digits, '-' or '_', plus .fifo for a FIFO topic)", quote(v.s)))
		case isFifo != fifo:
			p.d.add(p.d.errf(v.n, v.path, "a FIFO topic's name ends in .fifo and only a FIFO topic's does (FifoTopic is %t)", fifo))
		}
	}
	if len(t.Attributes) == 0 {
		t.Attributes = nil
	}
	return t, subs, len(p.d.errs) == before
}

// subscriptionAttributes are the AWS::SNS::Subscription properties that
// become Subscribe attributes, with how each is written.
func subscriptionAttributes() map[string]queueProperty {
	return map[string]queueProperty{
		"RawMessageDelivery": {kind: "bool"},
		"FilterPolicy":       {kind: "json"},
		"FilterPolicyScope":  {kind: "enum", allowed: []string{"MessageAttributes", "MessageBody"}},
		"RedrivePolicy":      {kind: "json"},
	}
}

// deliveredProtocols are the protocols the messaging service delivers to.
// Lambda subscriptions come from a function's SNS event, not from here.
var deliveredProtocols = []string{"sqs"}

func (p *parser) readSubscription(r *rawResource) (Subscription, bool) {
	before := len(p.d.errs)
	o := p.props(r, "")
	sub, ok := p.subscription(o, r.id)
	if v, ok := p.required(o, "TopicArn", ""); ok {
		sub.TopicArn = v.s
	}
	attrs := subscriptionAttributes()
	for _, kv := range pairs(o.n) {
		switch key := kv.key; {
		case key == "TopicArn", key == "Protocol", key == "Endpoint", key == "Region":
		case attrs[key].kind != "":
			if v, ok := p.attribute(o, key, attrs[key]); ok {
				if sub.Attributes == nil {
					sub.Attributes = map[string]string{}
				}
				sub.Attributes[key] = v
			}
		case key == "DeliveryPolicy", key == "ReplayPolicy", key == "SubscriptionRoleArn":
			p.d.warn(kv.knode, o.path+"."+key, "%s is not applied: the messaging service delivers to queues at once, without retries to shape", key)
		default:
			p.d.add(p.d.errf(kv.knode, o.path+"."+key, "AWS::SNS::Subscription has no property %s", quote(key)))
		}
	}
	return sub, ok && len(p.d.errs) == before
}

// subscription reads Protocol and Endpoint. A protocol the messaging
// service does not deliver to is an error: the template counts on those
// messages arriving somewhere.
func (p *parser) subscription(o obj, id string) (Subscription, bool) {
	s := Subscription{LogicalID: id}
	proto, ok1 := p.required(o, "Protocol", "")
	end, ok2 := p.required(o, "Endpoint", "")
	if !ok1 || !ok2 {
		return s, false
	}
	s.Protocol, s.Endpoint = proto.s, end.s
	if !slices.Contains(deliveredProtocols, proto.s) {
		p.d.add(p.d.errf(proto.n, proto.path, "protocol %s is not delivered locally (supported: %s; subscribe a function with its SNS event)", quote(proto.s), strings.Join(deliveredProtocols, ", ")))
		return s, false
	}
	return s, true
}

// EventSQS is the SAM event type of an SQS event source mapping.
const EventSQS = "SQS"

// SQSEvent is an SQS event of a function.
type SQSEvent struct {
	Event                   string
	QueueArn                string
	BatchSize               int // 1-10000, default 10
	MaxBatchingWindow       int // seconds, 0-300
	ReportBatchItemFailures bool
	MaxConcurrency          int   // ScalingConfig.MaximumConcurrency; 0 when unset
	Enabled                 *bool // nil when the template does not say

	node *yaml.Node // the event's Queue, for messages
	path string
}

func (p *parser) sqsEvent(name string, props obj, f *Function) {
	rules, _ := eventPropertyRules(EventSQS)
	p.checkProperties(props, "an SQS event", rules)
	if n, path := p.field(props, "FilterCriteria"); n != nil {
		p.d.add(p.d.errf(n, path, "FilterCriteria is not applied locally, so the function would get messages AWS filters out; remove it or filter in the function"))
		return
	}
	queue, ok := p.required(props, "Queue", " (the queue's ARN, e.g. !GetAtt MyQueue.Arn)")
	if !ok {
		return
	}
	if !strings.HasPrefix(queue.s, "arn:") || strings.Count(queue.s, ":") != 5 {
		p.d.add(p.d.errf(queue.n, queue.path, "want a queue ARN (arn:aws:sqs:region:account:name), got %s", quote(queue.s)))
		return
	}
	e := SQSEvent{Event: name, QueueArn: queue.s, node: queue.n, path: queue.path}
	e.BatchSize = p.integer(props, "BatchSize", 10, 1, 10000)
	e.MaxBatchingWindow = p.integer(props, "MaximumBatchingWindowInSeconds", 0, 0, 300)
	if e.BatchSize > 10 && e.MaxBatchingWindow < 1 {
		n, path := p.field(props, "BatchSize")
		p.d.add(p.d.errf(n, path, "a BatchSize above 10 needs MaximumBatchingWindowInSeconds of at least 1 (Lambda refuses it otherwise)"))
	}
	if strings.HasSuffix(queue.s, ".fifo") && e.BatchSize > 10 {
		n, path := p.field(props, "BatchSize")
		p.d.add(p.d.errf(n, path, "a FIFO queue takes a BatchSize of at most 10"))
	}
	if vs, ok := p.strList(props, "FunctionResponseTypes"); ok {
		for _, v := range vs {
			if p.oneOf(v, "ReportBatchItemFailures") {
				e.ReportBatchItemFailures = true
			}
		}
	}
	if sc, ok := p.object(props, "ScalingConfig"); ok {
		e.MaxConcurrency = p.integer(sc, "MaximumConcurrency", 0, 2, 1000)
	}
	e.Enabled = p.boolean(props, "Enabled")
	f.SQSEvents = append(f.SQSEvents, e)
}

// checkSQSEvents applies Lambda's rule that a queue's visibility timeout
// is at least the function's timeout, for queues the template declares
// (CloudFormation refuses the mapping otherwise: a message would become
// visible again while the function still works on it).
func (p *parser) checkSQSEvents(t *Template) {
	visibility := map[string]int{}
	for _, q := range t.Queues {
		vt := 30
		if v, ok := q.Attributes["VisibilityTimeout"]; ok {
			vt, _ = strconv.Atoi(v)
		}
		visibility[p.arn("sqs", q.QueueName)] = vt
	}
	for _, f := range t.Functions {
		for _, e := range f.SQSEvents {
			vt, ok := visibility[e.QueueArn]
			if ok && vt < f.Timeout {
				p.d.add(p.d.errf(e.node, e.path, "queue visibility timeout %d s is less than the function's timeout %d s (Lambda refuses the mapping: raise the queue's VisibilityTimeout)", vt, f.Timeout))
			}
		}
		for _, e := range f.SNSEvents {
			if !e.ViaSQS {
				continue
			}
			vt, ok := visibility[e.QueueArn]
			if e.QueueName != "" {
				vt, ok = 30, true // the queue SAM creates has SQS's default
			}
			if ok && vt < f.Timeout {
				p.d.add(p.d.errf(e.node, e.path, "the subscription queue's visibility timeout %d s is less than the function's timeout %d s (Lambda refuses the mapping: give SqsSubscription a queue of the template with a longer VisibilityTimeout)", vt, f.Timeout))
			}
		}
	}
}

// EventSNS is the SAM event type of an SNS subscription of a function.
const EventSNS = "SNS"

// SNSEvent is an SNS event of a function. The messaging service delivers
// to queues only, so each one gets a queue of its own, subscribed to the
// topic, which the events service reads: messages wait there durably
// while the function or the events service is down.
type SNSEvent struct {
	Event    string
	TopicArn string
	// QueueName is the subscription's queue, esb-sns-<function>-<event>,
	// created with the subscription; empty when SqsSubscription names a
	// queue of the template's own.
	QueueName  string
	QueueArn   string
	Attributes map[string]string // of the subscription: FilterPolicy, FilterPolicyScope
	// ViaSQS is SqsSubscription: the function reads the queue through an
	// SQS event source mapping (SQS records whose body is SNS's
	// envelope) instead of getting SNS's event.
	ViaSQS    bool
	BatchSize int   // SqsSubscription.BatchSize, default 10
	Enabled   *bool // SqsSubscription.Enabled

	node *yaml.Node // SqsSubscription, for messages
	path string
}

var unsafeQueueChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (p *parser) snsEvent(name string, props obj, f *Function) {
	rules, _ := eventPropertyRules(EventSNS)
	p.checkProperties(props, "an SNS event", rules)
	topic, ok := p.required(props, "Topic", " (the topic's ARN, e.g. !Ref MyTopic)")
	if !ok {
		return
	}
	if !strings.HasPrefix(topic.s, "arn:") || strings.Count(topic.s, ":") != 5 {
		p.d.add(p.d.errf(topic.n, topic.path, "want a topic ARN (arn:aws:sns:region:account:name), got %s", quote(topic.s)))
		return
	}
	queue := unsafeQueueChars.ReplaceAllString("esb-sns-"+f.Name+"-"+name, "-")
	if len(queue) > 80 {
		queue = queue[:80]
	}
	e := SNSEvent{Event: name, TopicArn: topic.s, QueueName: queue, QueueArn: p.arn("sqs", queue)}
	if !p.sqsSubscription(props, &e) {
		return
	}
	attrs := subscriptionAttributes()
	for _, key := range []string{"FilterPolicy", "FilterPolicyScope"} {
		if lookup(props.n, key) == nil {
			continue
		}
		if v, ok := p.attribute(props, key, attrs[key]); ok {
			if e.Attributes == nil {
				e.Attributes = map[string]string{}
			}
			e.Attributes[key] = v
		}
	}
	f.SNSEvents = append(f.SNSEvents, e)
}

// sqsSubscription reads an SNS event's SqsSubscription: true (SAM creates
// the queue, here esb-sns-<function>-<event>) or the template's own queue
// ({QueueArn, QueueUrl, BatchSize, Enabled}). Either way the function
// then reads the queue as an SQS event source.
func (p *parser) sqsSubscription(props obj, e *SNSEvent) bool {
	n, path := p.field(props, "SqsSubscription")
	if n == nil {
		return true
	}
	e.node, e.path = n, path
	if n.Kind == yaml.ScalarNode {
		b := p.boolean(props, "SqsSubscription")
		if b == nil {
			return false
		}
		e.ViaSQS, e.BatchSize = *b, 10
		return true
	}
	sub, ok := p.object(props, "SqsSubscription")
	if !ok {
		return false
	}
	p.checkProperties(sub, "an SNS event's SqsSubscription", map[string]propRule{
		"QueueArn": honoured(), "QueueUrl": honoured(), "BatchSize": honoured(), "Enabled": honoured(),
		"QueuePolicyLogicalId": inert(),
	})
	arn, ok1 := p.required(sub, "QueueArn", " (!GetAtt MyQueue.Arn)")
	_, ok2 := p.required(sub, "QueueUrl", " (!Ref MyQueue)")
	if !ok1 || !ok2 {
		return false
	}
	if !strings.HasPrefix(arn.s, "arn:") || strings.Count(arn.s, ":") != 5 {
		p.d.add(p.d.errf(arn.n, arn.path, "want a queue ARN (arn:aws:sqs:region:account:name), got %s", quote(arn.s)))
		return false
	}
	e.ViaSQS, e.QueueName, e.QueueArn = true, "", arn.s
	e.BatchSize = p.integer(sub, "BatchSize", 10, 1, 10)
	e.Enabled = p.boolean(sub, "Enabled")
	return true
}
