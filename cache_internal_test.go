package anonymous

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
)

func cachedUser(tok string) *User {
	return &User{ID: "U" + tok[:4], Token: &descope.Token{JWT: tok}}
}

func TestTokenCacheBounds(t *testing.T) {
	now := time.Now().Unix()
	c := newTokenCache(3, 1<<20)
	for i := range 10 {
		c.put(cachedUser(fmt.Sprintf("tok%03d", i)), now+60)
	}
	if n, _ := c.len(); n != 3 {
		t.Errorf("entries %d, want 3", n)
	}
	c = newTokenCache(1000, 3*(entryOverhead+100))
	for i := range 10 {
		c.put(cachedUser(fmt.Sprintf("%03d", i)+strings.Repeat("x", 97)), now+60)
	}
	if n, b := c.len(); n != 3 || b != 3*(entryOverhead+100) {
		t.Errorf("entries %d bytes %d, want 3 and %d", n, b, 3*(entryOverhead+100))
	}
	if newTokenCache(0, 100) != nil {
		t.Error("zero entries should disable the cache")
	}
	var off *tokenCache
	off.put(cachedUser("abcd"), now+60)
	if _, ok := off.get("abcd", now); ok {
		t.Error("disabled cache returned a token")
	}
}

func TestTokenCacheExpiryToTheSecond(t *testing.T) {
	c := newTokenCache(10, 1<<20)
	now := time.Now().Unix()
	c.put(cachedUser("tokA"), now+2)
	if _, ok := c.get("tokA", now+1); !ok {
		t.Error("token missing one second before expiry")
	}
	if _, ok := c.get("tokA", now+2); ok {
		t.Error("token served at its expiry second")
	}
	c.put(&User{ID: "U"}, now+60) // no token: never cached
	c.drop("tokA")
	if n, b := c.len(); n != 0 || b != 0 {
		t.Errorf("after drop: %d entries, %d bytes", n, b)
	}
}

func TestExpiredEntriesMakeRoom(t *testing.T) {
	c := newTokenCache(2, 1<<20)
	now := time.Now().Unix()
	c.put(cachedUser("old1"), now-1)
	c.put(cachedUser("liveA"), now+60)
	c.put(cachedUser("liveB"), now+60)
	if _, ok := c.get("liveA", now); !ok {
		t.Error("live token evicted while an expired one was there")
	}
}
