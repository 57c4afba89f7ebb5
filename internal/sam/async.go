package sam

import (
	"slices"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/schedexpr"
)

// Async is a function's asynchronous invocation config: its
// EventInvokeConfig and DeadLetterQueue. Targets are ARNs.
type Async struct {
	MaximumRetryAttempts *int // 0-2; nil: Lambda's 2
	MaximumEventAge      int  // seconds, 60-21600; 0: Lambda's 21600
	OnSuccess            string
	OnFailure            string
	DeadLetter           string
}

// Bounds Lambda puts on EventInvokeConfig.
const (
	maxRetryAttempts = 2
	minEventAge      = 60
	maxEventAge      = 21600
)

// asyncConfig reads EventInvokeConfig and DeadLetterQueue.
func (p *parser) asyncConfig(o obj, f *Function) {
	var a Async
	set := false
	if eic, ok := p.object(o, "EventInvokeConfig"); ok {
		set = true
		if v, _ := p.field(eic, "MaximumRetryAttempts"); v != nil {
			n := p.integer(eic, "MaximumRetryAttempts", maxRetryAttempts, 0, maxRetryAttempts)
			a.MaximumRetryAttempts = &n
		}
		a.MaximumEventAge = p.integer(eic, "MaximumEventAgeInSeconds", 0, minEventAge, maxEventAge)
		if dc, ok := p.object(eic, "DestinationConfig"); ok {
			if d, ok := p.object(dc, "OnSuccess"); ok {
				a.OnSuccess = p.destination(d, f.LogicalID)
			}
			if d, ok := p.object(dc, "OnFailure"); ok {
				a.OnFailure = p.destination(d, f.LogicalID)
			}
		}
	}
	if dlq, ok := p.object(o, "DeadLetterQueue"); ok {
		set = true
		typ, okType := p.required(dlq, "Type", " (SQS or SNS)")
		arn, okARN := p.required(dlq, "TargetArn", "")
		if okType && p.oneOf(typ, "SQS", "SNS") && okARN {
			a.DeadLetter = arn.s
		}
	}
	if set {
		f.Async = &a
	}
}

// destination reads an OnSuccess or OnFailure destination of function
// fnID.
func (p *parser) destination(d obj, fnID string) string {
	typ, ok := p.required(d, "Type", " (Lambda, SQS, SNS, EventBridge or S3Bucket)")
	if !ok || !p.oneOf(typ, "Lambda", "SQS", "SNS", "EventBridge", "S3Bucket") {
		return ""
	}
	arn, ok := p.str(d, "Destination")
	switch {
	case !ok && (typ.s == "SQS" || typ.s == "SNS"):
		return p.generatedDestination(typ.s, fnID)
	case !ok:
		p.d.add(p.d.errf(d.n, joinPath(d.path, "Destination"), "required for a %s destination", typ.s))
		return ""
	}
	switch typ.s {
	case "Lambda":
		if !strings.HasPrefix(arn.s, "arn:") || !strings.Contains(arn.s, ":lambda:") {
			p.d.add(p.d.errf(arn.n, arn.path, "want a Lambda function ARN (!GetAtt Function.Arn), got %s", quote(arn.s)))
			return ""
		}
		return arn.s
	case "SQS", "SNS":
		return arn.s
	}
	p.d.warn(typ.n, typ.path, "%s destinations are not delivered locally (%s); the function's records for it are not sent anywhere", typ.s,
		map[string]string{"EventBridge": "the env has no event bus", "S3Bucket": "records are not written to the bucket"}[typ.s])
	return ""
}

// generatedDestination is the queue or topic SAM creates for a destination
// of Type SQS or SNS with no Destination, named as !Ref
// <function>.DestinationQueue / .DestinationTopic name it; the
// provisioner creates it with the template's own.
func (p *parser) generatedDestination(typ, fnID string) string {
	if typ == "SQS" {
		name := fnID + "EventInvokeConfigQueue"
		if len(name) > 80 {
			name = name[:80]
		}
		if !slices.ContainsFunc(p.generatedQueues, func(q Queue) bool { return q.QueueName == name }) {
			p.generatedQueues = append(p.generatedQueues, Queue{LogicalID: fnID + "EventInvokeConfigQueue", QueueName: name})
		}
		return p.arn("sqs", name)
	}
	name := fnID + "EventInvokeConfigTopic"
	if !slices.ContainsFunc(p.generatedTopics, func(t Topic) bool { return t.TopicName == name }) {
		p.generatedTopics = append(p.generatedTopics, Topic{LogicalID: name, TopicName: name})
	}
	return p.arn("sns", name)
}

// checkSchedule validates an expression and time zone as AWS would.
func (p *parser) checkSchedule(expr, tz value) bool {
	if _, err := schedexpr.Parse(expr.s, tz.s); err != nil {
		n, path := expr.n, expr.path
		if tz.n != nil && strings.Contains(err.Error(), "time zone") {
			n, path = tz.n, tz.path
		}
		p.d.add(p.d.errf(n, path, "%s", err.Error()))
		return false
	}
	return true
}

// scheduleWindow reads a ScheduleV2's StartDate and EndDate (the
// scheduler fires no tick outside them) and checks its FlexibleTimeWindow
// as Scheduler does: a fire on time is within any window, so the window
// needs nothing more.
func (p *parser) scheduleWindow(props obj, s *Schedule) bool {
	ok := true
	var start, end time.Time
	for _, d := range []struct {
		key string
		dst *string
		t   *time.Time
	}{{"StartDate", &s.StartDate, &start}, {"EndDate", &s.EndDate, &end}} {
		v, set := p.str(props, d.key)
		if !set {
			continue
		}
		t, err := time.Parse(time.RFC3339, v.s)
		if err != nil {
			p.d.add(p.d.errf(v.n, v.path, "want a date and time such as 2026-01-31T09:00:00Z, got %s", quote(v.s)))
			ok = false
			continue
		}
		*d.dst, *d.t = v.s, t
	}
	if ok && !start.IsZero() && !end.IsZero() && !end.After(start) {
		v, _ := p.str(props, "EndDate")
		p.d.add(p.d.errf(v.n, v.path, "EndDate is not after StartDate"))
		ok = false
	}
	if w, set := p.object(props, "FlexibleTimeWindow"); set {
		p.checkProperties(w, "a FlexibleTimeWindow", map[string]propRule{"Mode": honoured(), "MaximumWindowInMinutes": honoured()})
		mode, has := p.required(w, "Mode", " (OFF or FLEXIBLE)")
		switch {
		case !has || !p.oneOf(mode, "OFF", "FLEXIBLE"):
			ok = false
		case mode.s == "FLEXIBLE":
			if _, has := p.required(w, "MaximumWindowInMinutes", " with Mode FLEXIBLE"); has {
				p.integer(w, "MaximumWindowInMinutes", 0, 1, 1440)
			}
		}
	}
	return ok
}
