// Package s3notify takes the env's S3 service's event notifications
// (versitygw's webhook target posts each one here) and turns every one that
// a function's S3 event selects (bucket, event type, key prefix and suffix)
// into an asynchronous invocation with the record S3 gives Lambda.
//
// versitygw posts each notification once, with a 3 s timeout, and ignores
// the answer, so the only durable step is ours: a notification is answered
// 200 only after its invocations are in the events service's queue, from
// where they run with Lambda's retries. One the service never receives (it
// was down or unreachable) is lost; see the README's S3 events section.
package s3notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

// maxBody bounds a notification post: versitygw sends one record (a
// DeleteObjects request is split into one post per key).
const maxBody = 1 << 20

// Functions is the runtime config the mappings are read from.
type Functions interface {
	Config() *runtimeconfig.Config
	WaitLoaded(ctx context.Context) error
}

// Store is where the invocations go.
type Store interface {
	Add(evs ...queue.Event) ([]queue.Event, error)
}

// Options are the optional settings; zero values are safe.
type Options struct {
	Region string // awsRegion of the records; default us-east-1
	Logger *slog.Logger
	Now    func() time.Time
}

// Receiver serves the notification endpoint.
type Receiver struct {
	fns   Functions
	store Store
	opts  Options

	mu      sync.Mutex
	lastSeq int64
}

// New returns a Receiver that matches notifications against fns and
// queues the invocations in store.
func New(fns Functions, store Store, opts Options) *Receiver {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Region == "" {
		opts.Region = awsid.DefaultRegion
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Receiver{fns: fns, store: store, opts: opts}
}

// versitygw's notification body (s3event.EventSchema), or its test event.
type notification struct {
	Records []struct {
		EventName    string `json:"eventName"`
		UserIdentity struct {
			PrincipalID string `json:"PrincipalId"`
		} `json:"userIdentity"`
		RequestParameters struct {
			SourceIPAddress string `json:"sourceIPAddress"`
		} `json:"requestParameters"`
		ResponseElements map[string]string `json:"responseElements"`
		S3               struct {
			Bucket struct {
				Name          string `json:"name"`
				OwnerIdentity struct {
					PrincipalID string `json:"PrincipalId"`
				} `json:"ownerIdentity"`
			} `json:"bucket"`
			Object struct {
				Key       string  `json:"key"`
				Size      int64   `json:"size"`
				ETag      *string `json:"eTag"`
				VersionID *string `json:"versionId"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	Event string `json:"Event"` // s3:TestEvent, sent when versitygw starts
}

// ServeHTTP stores the invocations a notification selects, then answers
// 200 with no body (versitygw never reads it, so a body would pin its
// connection).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		r.opts.Logger.Error("s3 notification not read", "error", err.Error())
		http.Error(w, "read notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The store is written even if versitygw gave up waiting: the
	// notification is as real as when it was sent.
	ctx := context.WithoutCancel(req.Context())
	if _, err := r.Accept(ctx, body); err != nil {
		r.opts.Logger.Error("s3 notification dropped", "error", err.Error(), "bytes", len(body))
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Accept queues the invocations body selects and returns how many.
func (r *Receiver) Accept(ctx context.Context, body []byte) (int, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return 0, fmt.Errorf("decode s3 notification: %w", err)
	}
	if n.Event == "s3:TestEvent" {
		r.opts.Logger.Info("s3 notifications connected: the S3 service (re)started and posts here")
		return 0, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.fns.WaitLoaded(waitCtx); err != nil {
		return 0, fmt.Errorf("runtime config not loaded yet: %w", err)
	}
	cfg := r.fns.Config()
	now := r.opts.Now().UTC()
	var evs []queue.Event
	for _, rec := range n.Records {
		name := eventName(rec.EventName)
		bucket, key := rec.S3.Bucket.Name, rec.S3.Object.Key
		for _, m := range mappings(cfg) {
			if m.src.Bucket != bucket || !selects(m.src.Events, name) || !strings.HasPrefix(key, m.src.Prefix) || !strings.HasSuffix(key, m.src.Suffix) {
				continue
			}
			record := Record{
				EventVersion: "2.1", EventSource: "aws:s3", AwsRegion: r.opts.Region,
				EventTime: now.Format("2006-01-02T15:04:05.000Z"), EventName: name,
				UserIdentity:      Identity{PrincipalID: principal(rec.UserIdentity.PrincipalID)},
				RequestParameters: map[string]string{"sourceIPAddress": rec.RequestParameters.SourceIPAddress},
				ResponseElements:  map[string]string{"x-amz-request-id": rec.ResponseElements["x-amz-request-id"], "x-amz-id-2": rec.ResponseElements["x-amz-id-2"]},
				S3: S3{
					SchemaVersion:   "1.0",
					ConfigurationID: m.function + "-" + m.src.Event,
					Bucket:          Bucket{Name: bucket, OwnerIdentity: Identity{PrincipalID: rec.S3.Bucket.OwnerIdentity.PrincipalID}, Arn: "arn:aws:s3:::" + bucket},
					Object:          Object{Key: EncodeKey(key), Sequencer: r.sequencer(now)},
				},
			}
			if v := rec.S3.Object.VersionID; v != nil && *v != "" {
				record.S3.Object.VersionID = v
			}
			if strings.HasPrefix(name, "ObjectCreated:") {
				size := rec.S3.Object.Size
				record.S3.Object.Size = &size
				if rec.S3.Object.ETag != nil {
					etag := strings.Trim(*rec.S3.Object.ETag, `"`)
					record.S3.Object.ETag = &etag
				}
			}
			payload, err := json.Marshal(map[string]any{"Records": []Record{record}})
			if err != nil {
				return 0, fmt.Errorf("encode s3 event: %w", err)
			}
			evs = append(evs, queue.Event{
				Kind: queue.KindInvoke, Function: m.function, RequestID: awsid.UUID(),
				Payload: payload, Source: "s3", Received: now, Due: now,
			})
			r.opts.Logger.Info("s3 notification queued", "function", m.function, "event", m.src.Event,
				"bucket", bucket, "key", key, "event_name", name)
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	if _, err := r.store.Add(evs...); err != nil {
		return 0, fmt.Errorf("store s3 events: %w", err)
	}
	return len(evs), nil
}

type mapping struct {
	function string
	src      runtimeconfig.EventSource
}

func mappings(cfg *runtimeconfig.Config) []mapping {
	var out []mapping
	for name, fn := range cfg.Functions.Functions {
		for _, src := range fn.EventSources {
			if src.Type == runtimeconfig.EventSourceS3 && src.Bucket != "" && (src.Enabled == nil || *src.Enabled) {
				out = append(out, mapping{function: name, src: src})
			}
		}
	}
	return out
}

// eventName is the record's eventName as S3 writes it (no "s3:" prefix);
// versitygw's own DeleteObjects type is S3's Delete, one record per key.
func eventName(versity string) string {
	name := strings.TrimPrefix(versity, "s3:")
	if name == "ObjectRemoved:DeleteObjects" {
		return "ObjectRemoved:Delete"
	}
	return name
}

// selects reports whether the configured types (s3:ObjectCreated:* or
// s3:ObjectCreated:Put...) cover the record's eventName.
func selects(types []string, name string) bool {
	category, _, _ := strings.Cut(name, ":")
	for _, t := range types {
		t = strings.TrimPrefix(t, "s3:")
		if t == name || t == category+":*" {
			return true
		}
	}
	return false
}

// principal is the userIdentity S3 writes: the caller's id behind "AWS:".
func principal(id string) string {
	if id == "" || strings.HasPrefix(id, "AWS:") {
		return id
	}
	return "AWS:" + id
}

// sequencer orders the events of one key, as S3's does: a hex string that
// grows with every event this process queues (the time in nanoseconds,
// bumped when two share one), so it also grows across restarts.
func (r *Receiver) sequencer(now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := max(now.UnixNano(), r.lastSeq+1)
	r.lastSeq = seq
	return fmt.Sprintf("%018X", seq)
}

// EncodeKey writes an object key as S3 does in event records: form
// encoding (a space is "+") that keeps '/', so handlers decode it with
// unquote_plus / decodeURIComponent(key.replace(/\+/g, " ")).
func EncodeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '*', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Record is one record of S3's event for Lambda.
type Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AwsRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      Identity          `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                S3                `json:"s3"`
}

// Identity is a principal.
type Identity struct {
	PrincipalID string `json:"principalId"`
}

// S3 is the record's s3 member.
type S3 struct {
	SchemaVersion   string `json:"s3SchemaVersion"`
	ConfigurationID string `json:"configurationId"`
	Bucket          Bucket `json:"bucket"`
	Object          Object `json:"object"`
}

// Bucket is the record's bucket.
type Bucket struct {
	Name          string   `json:"name"`
	OwnerIdentity Identity `json:"ownerIdentity"`
	Arn           string   `json:"arn"`
}

// Object is the record's object: size and eTag only for created objects,
// versionId only for versioned buckets, as S3 writes them.
type Object struct {
	Key       string  `json:"key"`
	Size      *int64  `json:"size,omitempty"`
	ETag      *string `json:"eTag,omitempty"`
	VersionID *string `json:"versionId,omitempty"`
	Sequencer string  `json:"sequencer"`
}
