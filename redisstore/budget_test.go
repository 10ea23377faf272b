package redisstore_test

import (
	"fmt"
	"testing"

	"github.com/descope-contrib/anonymous"
	"github.com/descope-contrib/anonymous/internal/anontest"
	"github.com/descope-contrib/anonymous/internal/redistest"
)

// The conversion budget holds for replicas sharing Redis together: the
// counters, and the pending conversion, which remembers what a start loaded
// and that Descope locked the code, live in Redis.

// onRedis builds n replicas of strategy s on srv, each with its own Redis
// client, under a fresh key prefix.
func onRedis(srv *redistest.Server, s anonymous.Strategy, n int) anontest.Replicas {
	return func(t *testing.T) []*anontest.Env {
		prefix := fmt.Sprintf("budget%d:", prefixes.Add(1))
		ws := []*anontest.Env{anontest.NewEnvWith(t, anontest.Setup{Strategy: s}, nil, storeOptions(t, newClient(t, srv), prefix)...)}
		for len(ws) < n {
			ws = append(ws, ws[0].Sibling(t, storeOptions(t, newClient(t, srv), prefix)...))
		}
		return ws
	}
}

func TestConversionBudgetOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, s := range anontest.Strategies {
		t.Run(s.String(), func(t *testing.T) {
			t.Run("start", func(t *testing.T) { anontest.StartBudget(t, onRedis(srv, s, 3)) })
			t.Run("verify", func(t *testing.T) { anontest.VerifyBudget(t, onRedis(srv, s, 3)) })
		})
	}
}
