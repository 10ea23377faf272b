package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of the note stores, so that no visitor can grow them without limit
// (the number of users only bounds the in-memory store: Redis has its own
// maxmemory).
const (
	maxNoteRunes    = 280
	maxNotesPerUser = 50
	maxNoteUsers    = 10000
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
type notes interface {
	// list returns the user's notes, oldest first (never nil).
	list(ctx context.Context, userID string) ([]note, error)
	// add stores text as a new note of the user.
	add(ctx context.Context, userID, text string) (note, error)
	// drop forgets the user's notes.
	drop(ctx context.Context, userID string) error
	// move gives the notes of from to to (after those to already has),
	// within the per-user bound: a native or local visitor gets a new ID
	// when it converts.
	move(ctx context.Context, from, to string) error
}

// newNote checks and trims the text of a note.
func newNote(text string) (note, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return note{}, errNoteEmpty
	case utf8.RuneCountInString(text) > maxNoteRunes:
		return note{}, errNoteLong
	}
	return note{Text: text, CreatedAt: time.Now().UTC().Truncate(time.Second)}, nil
}

// noteStore keeps notes in memory.
type noteStore struct {
	mu     sync.Mutex
	byUser map[string][]note
}

func newNoteStore() *noteStore {
	return &noteStore{byUser: make(map[string][]note)}
}

func (s *noteStore) list(_ context.Context, userID string) ([]note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]note{}, s.byUser[userID]...), nil
}

func (s *noteStore) add(_ context.Context, userID, text string) (note, error) {
	n, err := newNote(text)
	if err != nil {
		return note{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	notes, known := s.byUser[userID]
	switch {
	case !known && len(s.byUser) >= maxNoteUsers:
		return note{}, errNoteFull
	case len(notes) >= maxNotesPerUser:
		return note{}, errNoteTooMany
	}
	s.byUser[userID] = append(notes, n)
	return n, nil
}

func (s *noteStore) drop(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byUser, userID)
	return nil
}

func (s *noteStore) move(_ context.Context, from, to string) error {
	if from == to {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	notes, ok := s.byUser[from]
	if !ok {
		return nil
	}
	delete(s.byUser, from)
	merged := append(s.byUser[to], notes...)
	if len(merged) > maxNotesPerUser {
		merged = merged[len(merged)-maxNotesPerUser:]
	}
	s.byUser[to] = merged
	return nil
}
