package httpapi

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder collects written access lines; gate, when set, holds every
// write until it is closed.
type recorder struct {
	mu    sync.Mutex
	msgs  []string
	gate  chan struct{}
	inRun chan struct{} // receives once per write entered
}

func (r *recorder) write(l accessLine) {
	if r.inRun != nil {
		r.inRun <- struct{}{}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, l.msg)
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func TestAccessWriterKeepsOrderAndSyncs(t *testing.T) {
	rec := &recorder{}
	w := newAccessWriter(t.Context(), rec.write)
	var want []string
	for i := range 100 {
		msg := fmt.Sprintf("line %d", i)
		want = append(want, msg)
		w.log(accessLine{msg: msg})
	}
	require.NoError(t, w.sync(t.Context()))
	assert.Equal(t, want, rec.got(), "every line, in order, written by the time sync returns")
}

func TestAccessWriterFullQueueWritesInline(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), inRun: make(chan struct{}, accessQueue+2)}
	w := newAccessWriter(t.Context(), rec.write)
	w.log(accessLine{msg: "first"})
	<-rec.inRun // the writer is stuck on the first line
	for range accessQueue {
		w.log(accessLine{msg: "queued"})
	}
	done := make(chan struct{})
	go func() {
		w.log(accessLine{msg: "overflow"}) // the queue is full: written here
		close(done)
	}()
	select {
	case <-rec.inRun:
	case <-time.After(5 * time.Second):
		t.Fatal("a line past a full queue was neither queued nor written")
	}
	close(rec.gate)
	<-done
	require.NoError(t, w.sync(t.Context()))
	assert.Len(t, rec.got(), accessQueue+2, "nothing lost")
}

func TestAccessWriterEndDrainsThenWritesInline(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), inRun: make(chan struct{}, 8)}
	ctx, cancel := context.WithCancel(t.Context())
	w := newAccessWriter(ctx, rec.write)
	w.log(accessLine{msg: "a"})
	<-rec.inRun
	w.log(accessLine{msg: "b"}) // queued behind a
	cancel()
	close(rec.gate)
	require.Eventually(t, func() bool { return len(rec.got()) == 2 }, 5*time.Second, time.Millisecond,
		"lines queued before the end are still written")
	require.Eventually(t, func() bool {
		w.mu.RLock()
		defer w.mu.RUnlock()
		return w.ended
	}, 5*time.Second, time.Millisecond)
	w.log(accessLine{msg: "c"})
	assert.Equal(t, []string{"a", "b", "c"}, rec.got(), "after the end a line is written at once")
	assert.NoError(t, w.sync(t.Context()))
}

// TestAccessWriterSyncOnAFullQueueAtTheEnd checks that a sync waiting for
// room in a full queue is not stuck when the writer's context ends: it
// returns once the last drain has written every line.
func TestAccessWriterSyncOnAFullQueueAtTheEnd(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), inRun: make(chan struct{}, accessQueue+2)}
	ctx, cancel := context.WithCancel(t.Context())
	w := newAccessWriter(ctx, rec.write)
	w.log(accessLine{msg: "first"})
	<-rec.inRun // the writer is stuck on the first line
	for range accessQueue {
		w.log(accessLine{msg: "queued"})
	}
	synced := make(chan error, 1)
	go func() {
		sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		synced <- w.sync(sctx) // the queue is full: it waits for room
	}()
	time.Sleep(10 * time.Millisecond) // let it block; a late start only makes the test weaker
	cancel()
	close(rec.gate)
	require.NoError(t, <-synced, "sync stuck behind the end of the writer")
	assert.Len(t, rec.got(), accessQueue+1, "every queued line written before sync returned")
}
