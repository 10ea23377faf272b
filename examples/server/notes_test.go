package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestNoteStore(ttl time.Duration) (*noteStore, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return newNoteStore(ttl, c.now), c
}

// checkNoteStore checks a note store's bookkeeping against its contents.
func checkNoteStore(t *testing.T, s *noteStore) {
	t.Helper()
	bytes, anonBytes := 0, 0
	for _, l := range []struct {
		kept bool
		n    int
	}{{false, s.anon.Len()}, {true, s.kept.Len()}} {
		list := &s.anon
		if l.kept {
			list = &s.kept
		}
		for el := list.Front(); el != nil; el = el.Next() {
			e := el.Value.(*noteEntry)
			size := noteEntryBytes + len(e.user)
			for _, n := range e.notes {
				size += noteBytes + len(n.Text)
			}
			if e.kept != l.kept || s.byUser[e.user] != el || e.bytes != size || len(e.notes) > maxNotesPerUser {
				t.Fatalf("entry %s: kept %v in the kept list %v, indexed %v, %d bytes counted of %d, %d notes",
					e.user, e.kept, l.kept, s.byUser[e.user] == el, e.bytes, size, len(e.notes))
			}
			bytes += size
			if !e.kept {
				anonBytes += size
			}
		}
	}
	if n := s.anon.Len() + s.kept.Len(); n != len(s.byUser) || n > s.maxUsers || bytes != s.bytes || anonBytes != s.anonBytes || bytes > s.maxBytes {
		t.Fatalf("store: %d entries listed, %d indexed (at most %d); %d bytes counted of %d (at most %d), %d anonymous of %d",
			n, len(s.byUser), s.maxUsers, s.bytes, bytes, s.maxBytes, s.anonBytes, anonBytes)
	}
}

func noteCount(t *testing.T, s notes, user string, anonymous bool) int {
	t.Helper()
	l, err := s.list(context.Background(), user, anonymous)
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

// An anonymous user's notes expire once unused for the anonymous lifetime;
// each read or write starts it again. A converted user's notes never
// expire, and an anonymous session neither forgets them nor makes them
// expire again.
func TestNotesExpireWithTheAnonymousLifetime(t *testing.T) {
	ctx := context.Background()
	const ttl = 24 * time.Hour
	s, clock := newTestNoteStore(ttl)
	for _, u := range []string{"anon", "regular", "converted"} {
		if _, err := s.add(ctx, u, u != "regular", "a note"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.move(ctx, "converted", "converted", false); err != nil { // the OnConvert hook
		t.Fatal(err)
	}

	clock.advance(ttl - time.Second)
	if noteCount(t, s, "anon", true) != 1 { // a read: another lifetime
		t.Fatal("anonymous notes gone before the lifetime")
	}
	clock.advance(ttl - time.Second)
	if noteCount(t, s, "anon", true) != 1 {
		t.Fatal("anonymous notes read a lifetime ago gone")
	}
	// An anonymous session (one from before the conversion) reads and
	// writes the kept notes: they stay kept.
	if _, err := s.add(ctx, "converted", true, "from an old tab"); err != nil {
		t.Fatal(err)
	}
	_ = noteCount(t, s, "regular", true)
	clock.advance(ttl)
	if n := noteCount(t, s, "anon", true); n != 0 {
		t.Errorf("anonymous notes unused for the lifetime: %d left", n)
	}
	clock.advance(100 * ttl)
	if noteCount(t, s, "regular", false) != 1 || noteCount(t, s, "converted", false) != 2 {
		t.Error("a converted user's notes expired")
	}
	_ = s.forget(ctx, "regular")
	_ = s.forget(ctx, "converted")
	if noteCount(t, s, "regular", true) != 1 || noteCount(t, s, "converted", true) != 2 {
		t.Error("an anonymous session forgot a converted user's notes")
	}
	checkNoteStore(t, s)
}

// A new visitor's note is taken when the store holds the most users: the
// least recently used anonymous user's notes make room (the old store
// answered errNoteFull to every new visitor from then on).
func TestNewVisitorNotRefusedWhenFull(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestNoteStore(time.Hour)
	for i := range maxNoteUsers {
		if _, err := s.add(ctx, "U"+strconv.Itoa(i), true, "x"); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
		clock.advance(time.Millisecond)
	}
	_ = noteCount(t, s, "U0", true) // U0 is used again: U1 is now the least recently used
	if _, err := s.add(ctx, "U-new", true, "hello"); err != nil {
		t.Fatalf("a new visitor's note in a full store: %v", err)
	}
	if len(s.byUser) != maxNoteUsers || noteCount(t, s, "U-new", true) != 1 || noteCount(t, s, "U0", true) != 1 || noteCount(t, s, "U1", true) != 0 {
		t.Errorf("after the new visitor: %d users, U0 kept %v, U1 evicted %v", len(s.byUser),
			noteCount(t, s, "U0", true) == 1, noteCount(t, s, "U1", true) == 0)
	}
	checkNoteStore(t, s)
}

// A store full of converted users' notes evicts none of them: then, and
// only then, a note is refused. The bytes are bounded as the users are.
func TestNoteStoreNeverEvictsKeptNotes(t *testing.T) {
	ctx := context.Background()
	s, clock := newTestNoteStore(time.Hour)
	s.maxUsers = 3
	mustAdd := func(user string, anonymous bool) {
		t.Helper()
		if _, err := s.add(ctx, user, anonymous, "note of "+user); err != nil {
			t.Fatalf("note of %s: %v", user, err)
		}
		clock.advance(time.Second)
	}
	mustAdd("K1", false)
	mustAdd("A1", true)
	mustAdd("A2", true)
	mustAdd("K1", false) // the kept user's use does not save A1
	mustAdd("A3", true)  // evicts A1, the least recently used anonymous
	if noteCount(t, s, "A1", true) != 0 || noteCount(t, s, "K1", false) != 2 {
		t.Fatal("the least recently used anonymous notes were not the ones evicted")
	}
	_ = s.move(ctx, "A2", "K2", false) // A2 converts (native: a new ID)
	_ = s.move(ctx, "A3", "A3", false) // A3 converts (user-backed)
	if _, err := s.add(ctx, "A4", true, "hello"); err != errNoteFull {
		t.Errorf("a note when converted users fill the store: %v, want %v", err, errNoteFull)
	}
	for _, u := range []string{"K1", "K2", "A3"} {
		if noteCount(t, s, u, false) == 0 {
			t.Errorf("converted user %s lost its notes", u)
		}
	}
	checkNoteStore(t, s)

	// The bytes: a visitor's long notes push out other anonymous users',
	// never its own nor kept ones.
	s, clock = newTestNoteStore(time.Hour)
	long := string(make([]byte, maxNoteRunes))
	s.maxBytes = 3 * (noteEntryBytes + 2 + noteBytes + maxNoteRunes)
	for _, u := range []string{"K1", "A1", "A2"} {
		if _, err := s.add(ctx, u, u[0] == 'A', long); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
	}
	if _, err := s.add(ctx, "A2", true, long); err != nil {
		t.Fatal(err)
	}
	if noteCount(t, s, "A1", true) != 0 || noteCount(t, s, "A2", true) != 2 || noteCount(t, s, "K1", false) != 1 {
		t.Error("room for a longer note was not made from the other anonymous user")
	}
	checkNoteStore(t, s)
	if _, err := s.add(ctx, "A2", true, long); err != errNoteFull {
		t.Errorf("a note that does not fit beside kept notes: %v, want %v", err, errNoteFull)
	}
	checkNoteStore(t, s)
}

// Random uses of a small store keep its bookkeeping exact, its bounds, and
// every kept user's notes.
func TestNoteStoreRandomUse(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Hour
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		s     *noteStore
		clock *fakeClock
		kept  map[string]int // kept user: notes at least
	)
	for i := range 20000 {
		if i%1000 == 0 { // a fresh store, before kept notes fill this one
			s, clock = newTestNoteStore(ttl)
			s.maxUsers, s.maxBytes = 8, 6000
			kept = map[string]int{}
		}
		u := "U" + strconv.Itoa(rng.IntN(20))
		anonymous := rng.IntN(10) != 0
		switch op := rng.IntN(10); {
		case op < 5:
			_, err := s.add(ctx, u, anonymous, fmt.Sprint(i, string(make([]byte, rng.IntN(maxNoteRunes)))))
			if err == nil && (!anonymous || kept[u] > 0) {
				kept[u]++
			}
		case op < 7:
			n := noteCount(t, s, u, anonymous)
			if !anonymous && n > 0 && kept[u] == 0 {
				kept[u] = n
			}
		case op < 8:
			_ = s.forget(ctx, u)
		case op < 9:
			to := "U" + strconv.Itoa(rng.IntN(20))
			if kept[u] > 0 {
				continue // only anonymous IDs move
			}
			_ = s.move(ctx, u, to, anonymous)
			if n := noteCount(t, s, to, anonymous); n > 0 && (!anonymous || kept[to] > 0) {
				kept[to] = n
			}
		default:
			clock.advance(time.Duration(rng.Int64N(int64(ttl))))
		}
		checkNoteStore(t, s)
		for k, n := range kept {
			el := s.byUser[k]
			if el == nil || len(el.Value.(*noteEntry).notes) < min(n, maxNotesPerUser) || !el.Value.(*noteEntry).kept {
				t.Fatalf("step %d: kept user %s lost notes (had %d)", i, k, n)
			}
		}
	}
}
