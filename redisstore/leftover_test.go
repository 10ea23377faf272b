package redisstore_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
	"github.com/descope-contrib/anonymous/redisstore"
)

// What a conversion leaves in Redis: a user-backed one nothing that outlives
// the one-time-code window (10 minutes); a native or local one, besides, one
// mark of the old identity that lives exactly as long as the old credential
// (the refresh token's expiry, the local cookie's), and no longer. The test
// logs the bytes Redis spends on each key (MEMORY USAGE), as the README
// states them.
func TestConversionLeftovers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	ctx := context.Background()
	const window = 10 * time.Minute
	for _, s := range []anonymous.Strategy{anonymous.UserBacked, anonymous.NativeTokens, anonymous.LocalIDs} {
		t.Run(s.String(), func(t *testing.T) {
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			store, err := redisstore.New(rdb)
			if err != nil {
				t.Fatal(err)
			}
			env := anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil, anonymous.WithStore(store), anonymous.WithStoreTimeout(time.Second))
			b, first := env.Visitor(t)
			// The old credential's expiry: the refresh token's, or the
			// local cookie's, made with the anonymous lifetime (a year).
			credExp := time.Now().Add(365 * 24 * time.Hour)
			if s == anonymous.NativeTokens {
				credExp = jwtExp(t, env.Cookie(b, "DSR"))
			}
			if me := env.Convert(t, b, "ada@example.com"); me.Status != 200 {
				t.Fatalf("convert: %+v", me)
			}
			keys, err := rdb.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			var long []string
			for _, k := range keys {
				ttl, _ := rdb.PTTL(ctx, k).Result()
				mem, _ := rdb.MemoryUsage(ctx, k).Result()
				t.Logf("%s: time to live %v, %d bytes", k, ttl.Round(time.Second), mem)
				if ttl < 0 {
					t.Errorf("%s has no time to live", k)
				}
				if ttl <= window {
					continue
				}
				long = append(long, k)
				if k != "anonymous:conv:retired:"+first.UserID {
					t.Errorf("%s outlives the code window: %v", k, ttl)
					continue
				}
				if d := time.Until(credExp) - ttl; d < -2*time.Second || d > 2*time.Second {
					t.Errorf("the mark lives %v, the old credential %v", ttl, time.Until(credExp))
				}
			}
			if want := s != anonymous.UserBacked; (len(long) == 1) != want || len(long) > 1 {
				t.Errorf("keys that outlive the code window: %v; want the old identity's mark: %v", long, want)
			}
		})
	}
}

// jwtExp reads the expiry of a JWT, unverified.
func jwtExp(t *testing.T, jwt string) time.Time {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("claims %s: %v", raw, err)
	}
	return time.Unix(claims.Exp, 0)
}

// What a conversion's leftovers cost Redis, all told (key, empty value,
// expiry), as INFO's used_memory grows over 20,000 of them through the
// store: the figures the documents give per conversion. A retired mark
// (native or local identities, for the old credential's life) and the
// note a conversion leaves for the loser of a double submit (every
// strategy, a minute).
func TestLeftoverMarkBytes(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	ctx := context.Background()
	store, err := redisstore.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	const n = 20_000
	for _, mark := range []struct {
		name, prefix string
		ttl          time.Duration
	}{
		{"retired mark", "conv:retired:", 365 * 24 * time.Hour},
		{"conversion note", "conv:converted:", time.Minute},
	} {
		for _, kind := range []struct{ name, id string }{
			{"Descope user ID", "U2ZYXWVUTSRQPONMLKJIHGFEDCBA"},        // 28 characters
			{"local ID", "local-00000000-0000-4000-8000-000000000000"}, // a local ID
		} {
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			before := used()
			for i := range n {
				id := fmt.Sprintf("%s%08d", kind.id[:len(kind.id)-8], i)
				if err := store.Set(ctx, mark.prefix+id, nil, mark.ttl); err != nil {
					t.Fatal(err)
				}
			}
			per := float64(used()-before) / n
			t.Logf("a %s of a %s costs Redis %.0f bytes", mark.name, kind.name, per)
			if per > 240 {
				t.Errorf("a %s of a %s costs %.0f bytes, over the 240 the documents allow", mark.name, kind.name, per)
			}
		}
	}
}
