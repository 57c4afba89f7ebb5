// Package queue is the events service's durable store: pending events
// (asynchronous invocations and deliveries to destinations) and the last
// fire of every schedule, in one bbolt file on the events-data volume.
//
// Every change that moves an event on (a retry, its replacement by a
// destination record, a schedule's fire and the event it queues) is one
// transaction, so a crash never loses nor doubles it. Each change bumps
// the event's Rev; a change made from an outdated copy fails with
// ErrStale, which is what keeps a stale listing from running an event
// twice.
package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of event.
const (
	KindInvoke  = "invoke"  // an asynchronous invocation of Function
	KindDeliver = "deliver" // a record to send to Target (an SQS or SNS ARN)
)

// Event is one pending piece of work.
type Event struct {
	ID        uint64          `json:"-"`
	Rev       uint64          `json:"rev"`
	Kind      string          `json:"kind"`
	Function  string          `json:"function,omitempty"`
	Target    string          `json:"target,omitempty"`
	RequestID string          `json:"request_id"`
	Payload   json.RawMessage `json:"payload"`
	// Attributes go with a delivery as message attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Source says where the event came from (invoke, schedule, destination),
	// for logs.
	Source string `json:"source,omitempty"`
	// Received is when the event was first accepted: its age counts from
	// here.
	Received time.Time `json:"received"`
	Due      time.Time `json:"due"`
	// Attempts counts invocations that ran; throttles are not attempts.
	Attempts  int `json:"attempts"`
	Throttles int `json:"throttles,omitempty"`
	// Failures counts deliveries that did not go through.
	Failures int `json:"failures,omitempty"`
}

// ErrStale means the event changed (or is gone) since it was read.
var ErrStale = errors.New("event changed since it was read")

var (
	bucketEvents    = []byte("events")
	bucketSchedules = []byte("schedules")
)

// Store is the queue file. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	notify chan struct{}
}

// Open opens (creating if need be) the store at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketSchedules} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	return &Store{db: db, notify: make(chan struct{}, 1)}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Added signals (coalesced) that an event was added: a dispatcher waiting
// for due work looks again.
func (s *Store) Added() <-chan struct{} { return s.notify }

func (s *Store) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Add stores new events in one transaction and returns them with their ids.
func (s *Store) Add(evs ...Event) ([]Event, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range evs {
			if err := put(tx, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add events: %w", err)
	}
	s.signal()
	return evs, nil
}

// put stores ev, giving it an id when it has none.
func put(tx *bolt.Tx, ev *Event) error {
	b := tx.Bucket(bucketEvents)
	if ev.ID == 0 {
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		ev.ID = id
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return b.Put(key(ev.ID), raw)
}

func key(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// Due lists up to limit events due at now, earliest due first. The list is
// a snapshot: act on an event only through Claim.
func (s *Store) Due(now time.Time, limit int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			ev.ID = binary.BigEndian.Uint64(k)
			if !ev.Due.After(now) {
				out = append(out, ev)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list due events: %w", err)
	}
	slices.SortFunc(out, func(a, b Event) int { return a.Due.Compare(b.Due) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// NextDue is when the earliest event is due; ok is false when the queue
// is empty.
func (s *Store) NextDue() (t time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(_, v []byte) error {
			var ev struct {
				Due time.Time `json:"due"`
			}
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			if !ok || ev.Due.Before(t) {
				t, ok = ev.Due, true
			}
			return nil
		})
	})
	return t, ok, err
}

// Len is the number of pending events.
func (s *Store) Len() (n int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketEvents).Stats().KeyN
		return nil
	})
	return n, err
}

// Claim takes ev for a run: it must be unchanged since it was read (else
// ErrStale), and is pushed back to until, so that if the service dies
// mid-run the event runs again then (at-least-once). The claimed event is
// returned with its new Rev.
func (s *Store) Claim(ev Event, until time.Time) (Event, error) {
	var out Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := current(tx, ev)
		if err != nil {
			return err
		}
		cur.Due = until
		cur.Rev++
		out = cur
		return put(tx, &out)
	})
	if err != nil {
		return Event{}, fmt.Errorf("claim event %d: %w", ev.ID, err)
	}
	return out, nil
}

// Settle ends a run of ev in one transaction: ev is replaced by next (nil
// removes it) and add are stored as new events. It fails with ErrStale when
// ev changed since it was claimed.
func (s *Store) Settle(ev Event, next *Event, add ...Event) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := current(tx, ev); err != nil {
			return err
		}
		if next != nil {
			n := *next
			n.ID, n.Rev = ev.ID, ev.Rev+1
			if err := put(tx, &n); err != nil {
				return err
			}
		} else if err := tx.Bucket(bucketEvents).Delete(key(ev.ID)); err != nil {
			return err
		}
		for i := range add {
			add[i].ID = 0
			if err := put(tx, &add[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle event %d: %w", ev.ID, err)
	}
	if len(add) > 0 || next != nil {
		s.signal()
	}
	return nil
}

// current reads ev's stored version and checks it is the one ev was read
// as.
func current(tx *bolt.Tx, ev Event) (Event, error) {
	raw := tx.Bucket(bucketEvents).Get(key(ev.ID))
	if raw == nil {
		return Event{}, ErrStale
	}
	var cur Event
	if err := json.Unmarshal(raw, &cur); err != nil {
		return Event{}, err
	}
	cur.ID = ev.ID
	if cur.Rev != ev.Rev {
		return Event{}, ErrStale
	}
	return cur, nil
}

// LastFire is the tick a schedule last fired (or was first seen at).
func (s *Store) LastFire(schedule string) (t time.Time, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketSchedules).Get([]byte(schedule))
		if raw == nil {
			return nil
		}
		ok = true
		return t.UnmarshalText(raw)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read last fire of %s: %w", schedule, err)
	}
	return t, ok, nil
}

// Fire records tick as the schedule's last fire and, in the same
// transaction, queues ev (nil: only record, e.g. a skipped tick).
func (s *Store) Fire(schedule string, tick time.Time, ev *Event) error {
	raw, err := tick.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("fire %s: %w", schedule, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSchedules).Put([]byte(schedule), raw); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		return put(tx, ev)
	})
	if err != nil {
		return fmt.Errorf("fire %s: %w", schedule, err)
	}
	if ev != nil {
		s.signal()
	}
	return nil
}
