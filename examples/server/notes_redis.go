package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/redis/go-redis/v9"
)

// redisNotes keeps notes in Redis, one list per user under "notes:" + the
// user ID, so that every replica of the server sees the same notes.
type redisNotes struct {
	c redis.UniversalClient
}

func notesKey(userID string) string { return "notes:" + userID }

// addNoteScript appends a note unless the user already has the most allowed:
// the check and the append are one step.
var addNoteScript = redis.NewScript(`
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then
	return -1
end
return redis.call('RPUSH', KEYS[1], ARGV[1])
`)

func (s redisNotes) list(ctx context.Context, userID string) ([]note, error) {
	raw, err := s.c.LRange(ctx, notesKey(userID), 0, -1).Result()
	if err != nil {
		return nil, errors.Join(errNotesDown, err)
	}
	out := make([]note, 0, len(raw))
	for _, r := range raw {
		var n note
		if json.Unmarshal([]byte(r), &n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

func (s redisNotes) add(ctx context.Context, userID, text string) (note, error) {
	n, err := newNote(text)
	if err != nil {
		return note{}, err
	}
	data, err := json.Marshal(n)
	if err != nil {
		return note{}, err
	}
	res, err := addNoteScript.Run(ctx, s.c, []string{notesKey(userID)}, data, maxNotesPerUser).Int64()
	switch {
	case err != nil:
		return note{}, errors.Join(errNotesDown, err)
	case res < 0:
		return note{}, errNoteTooMany
	}
	return n, nil
}

func (s redisNotes) drop(ctx context.Context, userID string) error {
	return s.c.Del(ctx, notesKey(userID)).Err()
}

// moveNotesScript appends the notes of one list to another, keeps the newest
// allowed, and deletes the first: one step, so a note added meanwhile is
// not lost between two replicas.
var moveNotesScript = redis.NewScript(`
local notes = redis.call('LRANGE', KEYS[1], 0, -1)
if #notes == 0 then
	return 0
end
for _, n in ipairs(notes) do
	redis.call('RPUSH', KEYS[2], n)
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
redis.call('DEL', KEYS[1])
return #notes
`)

func (s redisNotes) move(ctx context.Context, from, to string) error {
	if from == to {
		return nil
	}
	if err := moveNotesScript.Run(ctx, s.c, []string{notesKey(from), notesKey(to)}, maxNotesPerUser).Err(); err != nil {
		return errors.Join(errNotesDown, err)
	}
	return nil
}
