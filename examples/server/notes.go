package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of the in-memory note store, so that no visitor can grow it without
// limit.
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
)

// note is one note, as the API shows it.
type note struct {
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
}

// noteStore keeps notes in memory under the user ID. A user-backed anonymous
// user keeps its ID when it converts, so its notes need no migration; a
// native or local visitor gets a new ID, and move carries its notes over.
type noteStore struct {
	mu     sync.Mutex
	byUser map[string][]note
}

func newNoteStore() *noteStore {
	return &noteStore{byUser: make(map[string][]note)}
}

// list returns a copy of the user's notes, oldest first (never nil).
func (s *noteStore) list(userID string) []note {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]note{}, s.byUser[userID]...)
}

// add stores text as a new note of the user.
func (s *noteStore) add(userID, text string) (note, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return note{}, errNoteEmpty
	case utf8.RuneCountInString(text) > maxNoteRunes:
		return note{}, errNoteLong
	}
	n := note{Text: text, CreatedAt: time.Now().UTC().Truncate(time.Second)}
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

// drop forgets the user's notes.
func (s *noteStore) drop(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byUser, userID)
}

// move gives the notes of from to to (after those to already has), within
// the per-user bound.
func (s *noteStore) move(from, to string) {
	if from == to {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	notes, ok := s.byUser[from]
	if !ok {
		return
	}
	delete(s.byUser, from)
	merged := append(s.byUser[to], notes...)
	if len(merged) > maxNotesPerUser {
		merged = merged[len(merged)-maxNotesPerUser:]
	}
	s.byUser[to] = merged
}
