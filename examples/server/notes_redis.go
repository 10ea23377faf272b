package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisNotes keeps notes in Redis, one list per user under "notes:" + the
// user ID, so that every replica of the server sees the same notes. An
// anonymous user's list expires ttl after its last use (a TTL on the key);
// a kept list has none, and that is how the scripts below tell one from the
// other: a list with no TTL is kept, and an anonymous session never gives it
// one back.
type redisNotes struct {
	c   redis.UniversalClient
	ttl time.Duration // the life of an anonymous user's notes after their last use
}

func notesKey(userID string) string { return "notes:" + userID }

// sessionArg is the scripts' argument for the kind of the session: "1" for
// an anonymous one.
func sessionArg(anonymous bool) string {
	if anonymous {
		return "1"
	}
	return "0"
}

// listNotesScript reads a user's notes and records the use: an anonymous
// session gives notes not kept another lifetime (ARGV[2] ms), a regular one
// keeps them.
var listNotesScript = redis.NewScript(`
local notes = redis.call('LRANGE', KEYS[1], 0, -1)
if #notes > 0 then
	if ARGV[1] ~= '1' then
		redis.call('PERSIST', KEYS[1])
	elseif redis.call('PTTL', KEYS[1]) > 0 then
		redis.call('PEXPIRE', KEYS[1], ARGV[2])
	end
end
return notes
`)

// addNoteScript appends a note unless the user already has the most allowed
// (ARGV[2]), and records the use as listNotesScript does (ARGV[3] the kind
// of the session, ARGV[4] the lifetime in ms): one step, so that no note
// is added to a kept list with a TTL, nor to an anonymous one without.
var addNoteScript = redis.NewScript(`
local kept = redis.call('PTTL', KEYS[1]) == -1
if ARGV[3] ~= '1' then
	redis.call('PERSIST', KEYS[1])
	kept = true
end
local n = -1
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
	n = redis.call('RPUSH', KEYS[1], ARGV[1])
end
if not kept then
	redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return n
`)

func (s redisNotes) list(ctx context.Context, userID string, anonymous bool) ([]note, error) {
	raw, err := listNotesScript.Run(ctx, s.c, []string{notesKey(userID)}, sessionArg(anonymous), s.ttl.Milliseconds()).StringSlice()
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

func (s redisNotes) add(ctx context.Context, userID string, anonymous bool, text string) (note, error) {
	n, err := newNote(text, time.Now())
	if err != nil {
		return note{}, err
	}
	data, err := json.Marshal(n)
	if err != nil {
		return note{}, err
	}
	res, err := addNoteScript.Run(ctx, s.c, []string{notesKey(userID)}, data, maxNotesPerUser,
		sessionArg(anonymous), s.ttl.Milliseconds()).Int64()
	switch {
	case err != nil:
		return note{}, errors.Join(errNotesDown, err)
	case res < 0:
		return note{}, errNoteTooMany
	}
	return n, nil
}

// forgetNotesScript deletes a list unless it is kept (has no TTL).
var forgetNotesScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) == -1 then
	return 0
end
return redis.call('DEL', KEYS[1])
`)

func (s redisNotes) forget(ctx context.Context, userID string) error {
	if err := forgetNotesScript.Run(ctx, s.c, []string{notesKey(userID)}).Err(); err != nil {
		return errors.Join(errNotesDown, err)
	}
	return nil
}

// moveNotesScript appends the notes of one list to another, keeps the newest
// allowed (ARGV[1]), deletes the first, and keeps the second unless the
// session it moves to is anonymous (ARGV[2], with the lifetime in ms in
// ARGV[3]): one step, so a note added meanwhile is not lost between two
// replicas.
var moveNotesScript = redis.NewScript(`
local kept = redis.call('PTTL', KEYS[2]) == -1
local notes = redis.call('LRANGE', KEYS[1], 0, -1)
if #notes > 0 then
	for _, n in ipairs(notes) do
		redis.call('RPUSH', KEYS[2], n)
	end
	redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
	redis.call('DEL', KEYS[1])
end
if ARGV[2] ~= '1' then
	redis.call('PERSIST', KEYS[2])
elseif #notes > 0 and not kept then
	redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return #notes
`)

func (s redisNotes) move(ctx context.Context, from, to string, anonymous bool) error {
	var err error
	switch {
	case from != to:
		err = moveNotesScript.Run(ctx, s.c, []string{notesKey(from), notesKey(to)}, maxNotesPerUser,
			sessionArg(anonymous), s.ttl.Milliseconds()).Err()
	case !anonymous:
		err = s.c.Persist(ctx, notesKey(to)).Err()
	}
	if err != nil {
		return errors.Join(errNotesDown, err)
	}
	return nil
}
