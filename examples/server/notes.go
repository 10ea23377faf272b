package main

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of the note stores, so that no visitor can grow them without limit
// (the number of users and the bytes only bound the in-memory store: Redis
// has its own maxmemory, and anonymous notes expire there too).
const (
	maxNoteRunes    = 280
	maxNotesPerUser = 50
	maxNoteUsers    = 10000
	maxNoteBytes    = 32 << 20
)

var (
	errNoteEmpty   = errors.New("note is empty")
	errNoteLong    = fmt.Errorf("note is longer than %d characters", maxNoteRunes)
	errNoteTooMany = fmt.Errorf("at most %d notes per user", maxNotesPerUser)
	errNoteFull    = errors.New("note store is full, try again later")
	errNotesDown   = errors.New("notes are unavailable, try again later")
)

// note is one note, as the API shows it.
type note struct {
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
}

// notes keeps the visitors' notes under their Descope user ID: the ID an
// anonymous user keeps when it converts, so its notes need no migration.
// noteStore keeps them in memory, redisNotes in Redis (with REDIS_URL), so
// that several replicas of the server show the same notes.
//
// An anonymous user's notes live as long as an anonymous identity: they
// expire once they have not been read or written for the anonymous lifetime
// (-lifetime), by when the visitor's refresh token has expired too. A user
// the server has seen converted (the OnConvert hook, or any request with a
// regular session) has its notes kept: they never expire, an anonymous
// session (one from before the conversion, still valid until it expires)
// cannot forget them, and the in-memory store never evicts them.
type notes interface {
	// list returns the user's notes, oldest first (never nil). anonymous
	// says what the request's session says: an anonymous user's notes
	// live on for another lifetime, a regular user's are kept.
	list(ctx context.Context, userID string, anonymous bool) ([]note, error)
	// add stores text as a new note of the user, with list's anonymous.
	add(ctx context.Context, userID string, anonymous bool, text string) (note, error)
	// forget drops the notes of an anonymous user who asked to be
	// forgotten, unless they are kept.
	forget(ctx context.Context, userID string) error
	// move gives the notes of from to to (after those to already has),
	// within the per-user bound: a native or local visitor gets a new ID
	// when it converts. Unless anonymous (a promotion), to's notes are
	// kept from now on, whether or not they moved.
	move(ctx context.Context, from, to string, anonymous bool) error
}

// newNote checks and trims the text of a note written at now.
func newNote(text string, now time.Time) (note, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return note{}, errNoteEmpty
	case utf8.RuneCountInString(text) > maxNoteRunes:
		return note{}, errNoteLong
	}
	return note{Text: text, CreatedAt: now.UTC().Truncate(time.Second)}, nil
}

// Estimated memory of a user's entry and of a note, beside their strings.
const (
	noteEntryBytes = 200 // map slot, list element, entry
	noteBytes      = 48  // string header and time in the slice
)

// noteStore keeps notes in memory, within maxNoteUsers users and
// maxNoteBytes. Anonymous users' notes expire ttl after their last use; when
// the store is full, the least recently used anonymous user's go first, so a
// new visitor is never refused for anonymous notes. Kept notes are never
// evicted: only a store full of them refuses a note (errNoteFull).
type noteStore struct {
	ttl      time.Duration    // the life of anonymous notes after their last use
	now      func() time.Time // the clock; tests set it
	maxUsers int
	maxBytes int

	mu        sync.Mutex
	byUser    map[string]*list.Element // of *noteEntry, in anon or kept
	anon      list.List                // anonymous users' entries, most recently used first
	kept      list.List                // kept entries, most recently used first
	bytes     int                      // estimated memory of all entries
	anonBytes int                      // of the anonymous entries
}

// noteEntry is one user's notes in a noteStore.
type noteEntry struct {
	user    string
	notes   []note
	kept    bool
	expires time.Time // an anonymous entry's end, ttl after its last use
	bytes   int       // estimated memory
}

// newNoteStore returns an empty in-memory store whose anonymous notes
// expire ttl after their last use, on the clock now.
func newNoteStore(ttl time.Duration, now func() time.Time) *noteStore {
	s := &noteStore{ttl: ttl, now: now, maxUsers: maxNoteUsers, maxBytes: maxNoteBytes, byUser: make(map[string]*list.Element)}
	s.anon.Init()
	s.kept.Init()
	return s
}

func (s *noteStore) list(_ context.Context, userID string, anonymous bool) ([]note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	el := s.byUser[userID]
	if el == nil {
		return []note{}, nil
	}
	s.touch(el, anonymous, now)
	return append([]note{}, el.Value.(*noteEntry).notes...), nil
}

func (s *noteStore) add(_ context.Context, userID string, anonymous bool, text string) (note, error) {
	now := s.now()
	n, err := newNote(text, now)
	if err != nil {
		return note{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	el := s.byUser[userID]
	switch {
	case el == nil:
		if !s.makeRoom(1, noteEntryBytes+len(userID)+noteBytes+len(n.Text), nil) {
			return note{}, errNoteFull
		}
		el = s.insert(userID)
	case len(el.Value.(*noteEntry).notes) >= maxNotesPerUser:
		s.touch(el, anonymous, now)
		return note{}, errNoteTooMany
	case !s.makeRoom(0, noteBytes+len(n.Text), el):
		return note{}, errNoteFull
	}
	e := el.Value.(*noteEntry)
	e.notes = append(e.notes, n)
	s.resize(e, e.bytes+noteBytes+len(n.Text))
	s.touch(el, anonymous, now)
	return n, nil
}

func (s *noteStore) forget(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el := s.byUser[userID]; el != nil && !el.Value.(*noteEntry).kept {
		s.remove(el)
	}
	return nil
}

func (s *noteStore) move(_ context.Context, from, to string, anonymous bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if src := s.byUser[from]; src != nil && from != to {
		// The moved notes were counted under from: in an entry of to's
		// they take no more room than they had, so nothing is evicted.
		moved := src.Value.(*noteEntry).notes
		s.remove(src)
		dst := s.byUser[to]
		if dst == nil {
			dst = s.insert(to)
		}
		e := dst.Value.(*noteEntry)
		merged := append(e.notes, moved...)
		if len(merged) > maxNotesPerUser {
			merged = merged[len(merged)-maxNotesPerUser:]
		}
		e.notes = merged
		size := noteEntryBytes + len(to)
		for _, n := range merged {
			size += noteBytes + len(n.Text)
		}
		s.resize(e, size)
	}
	if el := s.byUser[to]; el != nil {
		s.touch(el, anonymous, now)
	}
	return nil
}

// touch records a use of el by a session that is anonymous or not: a
// regular session keeps the entry's notes for good; an anonymous one gives
// notes not kept another lifetime, and never takes a kept entry back.
func (s *noteStore) touch(el *list.Element, anonymous bool, now time.Time) {
	e := el.Value.(*noteEntry)
	switch {
	case e.kept:
		s.kept.MoveToFront(el)
	case anonymous:
		e.expires = now.Add(s.ttl)
		s.anon.MoveToFront(el)
	default:
		s.anon.Remove(el)
		s.anonBytes -= e.bytes
		e.kept, e.expires = true, time.Time{}
		s.byUser[e.user] = s.kept.PushFront(e)
	}
}

// sweep drops the anonymous entries that expired: the least recently used
// ones, at the back.
func (s *noteStore) sweep(now time.Time) {
	for el := s.anon.Back(); el != nil && !now.Before(el.Value.(*noteEntry).expires); el = s.anon.Back() {
		s.remove(el)
	}
}

// makeRoom evicts the least recently used anonymous entries, other than
// keep, until users more users and bytes more bytes fit in the store. It
// reports false, and evicts nothing, when they would not fit even with every
// other anonymous entry gone: kept entries take the room.
func (s *noteStore) makeRoom(users, bytes int, keep *list.Element) bool {
	fits := func(n, b int) bool { return n+users <= s.maxUsers && b+bytes <= s.maxBytes }
	if fits(len(s.byUser), s.bytes) {
		return true
	}
	floorUsers, floorBytes := s.kept.Len(), s.bytes-s.anonBytes
	if keep != nil && !keep.Value.(*noteEntry).kept {
		floorUsers, floorBytes = floorUsers+1, floorBytes+keep.Value.(*noteEntry).bytes
	}
	if !fits(floorUsers, floorBytes) {
		return false
	}
	for el := s.anon.Back(); el != nil && !fits(len(s.byUser), s.bytes); {
		prev := el.Prev()
		if el != keep {
			s.remove(el)
		}
		el = prev
	}
	return true
}

// insert adds an empty anonymous entry for userID; touch sets its life.
func (s *noteStore) insert(userID string) *list.Element {
	e := &noteEntry{user: userID}
	el := s.anon.PushFront(e)
	s.byUser[userID] = el
	s.resize(e, noteEntryBytes+len(userID))
	return el
}

// resize sets the estimated memory of e.
func (s *noteStore) resize(e *noteEntry, bytes int) {
	s.bytes += bytes - e.bytes
	if !e.kept {
		s.anonBytes += bytes - e.bytes
	}
	e.bytes = bytes
}

// remove drops an entry from the store.
func (s *noteStore) remove(el *list.Element) {
	e := el.Value.(*noteEntry)
	if e.kept {
		s.kept.Remove(el)
	} else {
		s.anon.Remove(el)
		s.anonBytes -= e.bytes
	}
	delete(s.byUser, e.user)
	s.bytes -= e.bytes
}
