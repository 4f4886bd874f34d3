package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// The contacts the router writes are purged as it leaves them: those that
// left go once the retention passed, one still waiting stays and is still
// served.
func TestPurgeRouterContacts(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2025, 1, 6, 10, 0, 0, 0, time.UTC)
	q, err := routing.New(db, routing.WithClock(ivrtest.NewClock(start)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := t.Context()
	waiting, err := q.Post(ctx, ivr.Contact{Channel: routing.ChannelChat, Queue: "support", Caller: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := q.Post(ctx, ivr.Contact{Channel: routing.ChannelEmail, Queue: "support", Caller: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, closed, routing.StateClosed); err != nil {
		t.Fatal(err)
	}
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "support", CallID: "call-1", Caller: "+33612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Leave(context.Background(), routing.StateAbandoned); err != nil {
		t.Fatal(err)
	}

	p, err := store.NewPurger(db, store.PurgerConfig{
		Retention: store.DefaultCallRetention,
		Now:       func() time.Time { return start.Add(store.DefaultCallRetention + time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Purge(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Contacts != 2 {
		t.Errorf("purged %+v, want the 2 contacts that left", rep)
	}
	list, err := q.List(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != waiting {
		t.Errorf("waiting after the purge: %+v, want %s", list, waiting)
	}
}
