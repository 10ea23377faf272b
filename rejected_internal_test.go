package anonymous

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/descope/go-sdk/descope"
)

// answered is an error as the SDK returns Descope's answer with status.
func answered(code string, status int) error {
	return (&descope.Error{Code: code, Description: "answered"}).WithInfo(descope.ErrorInfoKeys.HTTPResponseStatusCode, status)
}

func TestDescopeRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"401 logged out", answered("E064001", 401), true},
		{"401 unauthorized", answered("E011003", 401), true},
		{"403", answered("E011004", 403), true},
		{"400", answered("E011002", 400), true},
		{"429", answered("E130429", 429), false},
		{"500", answered("E011001", 500), false},
		{"502", answered("E011001", 502), false},
		{"SDK's own check", descope.ErrInvalidToken, false},
		{"SDK's key fetch", descope.ErrPublicKey.WithMessage("Failed to fetch public keys"), false},
		{"timeout", context.DeadlineExceeded, false},
		{"ours", ErrInvalidToken, false},
		{"wrapped 401", wrap(ErrInvalidToken, answered("E064001", 401)), true},
		{"another replica's", wrap(ErrInvalidToken, errRejectedElsewhere), true},
		{"another replica's outage", wrap(ErrUnavailable, errors.New("refresh failed on another replica")), false},
	} {
		if got := descopeRejected(tc.err); got != tc.want {
			t.Errorf("%s: descopeRejected(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRejectedTokensRemember(t *testing.T) {
	var r rejectedTokens
	now := time.Unix(1_000_000, 0)
	if _, ok := r.has("a", now); ok || r.m != nil {
		t.Fatal("an empty memory knows a token")
	}
	r.remember("a", now.Unix()+60, false, now)  // its own expiry first
	r.remember("b", 0, false, now)              // expiry unknown: rejectedFor
	r.remember("c", now.Unix()+1e9, true, now)  // rejectedFor first
	r.remember("gone", now.Unix(), true, now)   // expired already: not kept
	r.remember("old", now.Unix()-5, false, now) // the same
	if n := r.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	for _, tc := range []struct {
		tok    string
		at     time.Duration
		known  bool
		final_ bool
	}{
		{"a", 59 * time.Second, true, false},
		{"a", 60 * time.Second, false, false},
		{"b", rejectedFor - time.Second, true, false},
		{"b", rejectedFor, false, false},
		{"c", rejectedFor - time.Second, true, true},
		{"c", rejectedFor, false, false},
		{"gone", 0, false, false},
		{"d", 0, false, false},
		{"a" + "\x00", 0, false, false},
	} {
		final, ok := r.has(tc.tok, now.Add(tc.at))
		if ok != tc.known || final != tc.final_ {
			t.Errorf("%q at +%v: known %v final %v, want %v %v", tc.tok, tc.at, ok, final, tc.known, tc.final_)
		}
	}
	if n := r.len(); n != 0 {
		t.Errorf("%d expired entries kept after lookups", n)
	}

	// Remembered again: the later expiry and finality win.
	r.remember("e", now.Unix()+10, false, now)
	r.remember("e", now.Unix()+20, true, now)
	r.remember("e", now.Unix()+5, false, now)
	if final, ok := r.has("e", now.Add(19*time.Second)); !ok || !final {
		t.Errorf("e merged: known %v final %v", ok, final)
	}
}

// The memory never holds more than its bound, with the default bound and a
// small one, whether its entries are live or expired.
func TestRejectedTokensBound(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var r rejectedTokens
	for i := range maxRejected + 1000 {
		r.remember(fmt.Sprintf("tok-%d", i), 0, false, now)
		if i%1000 == 0 && r.len() > maxRejected {
			t.Fatalf("%d entries after %d, bound %d", r.len(), i+1, maxRejected)
		}
	}
	if n := r.len(); n != maxRejected {
		t.Fatalf("%d entries, want %d", n, maxRejected)
	}
	if _, ok := r.has(fmt.Sprintf("tok-%d", maxRejected+999), now); !ok {
		t.Error("the latest token was dropped")
	}

	small := rejectedTokens{max: 32}
	for i := range 32 {
		small.remember(fmt.Sprintf("short-%d", i), now.Unix()+1, false, now)
	}
	later := now.Add(2 * time.Second) // all of them expired
	for i := range 100 {
		small.remember(fmt.Sprintf("new-%d", i), 0, false, later)
		if n := small.len(); n > 32 {
			t.Fatalf("%d entries, bound 32", n)
		}
	}
}

// tokenShaped returns a random canonical compact JWS with segments of the
// given lengths in bytes.
func tokenShaped(header, payload, sig int) string {
	seg := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rand.IntN(256))
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return seg(header) + "." + seg(payload) + "." + seg(sig)
}

func TestCanonicalJWS(t *testing.T) {
	for tok, want := range map[string]bool{
		"AA.AA.AA":     true,
		"AAA.AAAA.AAE": true, // 'E' is 000100: its 2 spare bits are zero
		"AB.AA.AA":     false,
		"AA.AF.AA":     false,
		"AA.AA.AAB":    false,
		"AA==.AA.AA":   false,
		"AA.AA.AA=":    false,
		"A+.AA.AA":     false,
		"A/.AA.AA":     false,
		"AA.AA.A":      false, // 6 bits: no byte
		"AA.AA":        false,
		"AA.AA.AA.AA":  false,
		".AA.AA":       false,
		"AA..AA":       false,
		"AA.AA.":       false,
		"AA.AA.AA ":    false,
		"AA.AA.A\nA":   false,
		"":             false,
	} {
		if got := canonicalJWS(tok); got != want {
			t.Errorf("canonicalJWS(%q) = %v, want %v", tok, got, want)
		}
	}
	// Against the standard library's strict decoding: a segment is
	// canonical exactly when it decodes strictly and encodes back the same.
	strict := base64.RawURLEncoding.Strict()
	for range 20000 {
		n := 1 + rand.IntN(12)
		var b strings.Builder
		for range n {
			b.WriteByte(b64url[rand.IntN(64)])
		}
		seg := b.String()
		dec, err := strict.DecodeString(seg)
		want := err == nil && base64.RawURLEncoding.EncodeToString(dec) == seg
		if got := canonicalSegment(seg); got != want {
			t.Fatalf("canonicalSegment(%q) = %v, want %v", seg, got, want)
		}
	}
	// Whole tokens, strangers and dots anywhere, against the same
	// reference: three parts, each canonical.
	reference := func(tok string) bool {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			return false
		}
		for _, p := range parts {
			dec, err := strict.DecodeString(p)
			if p == "" || err != nil || base64.RawURLEncoding.EncodeToString(dec) != p {
				return false
			}
		}
		return true
	}
	for range 20000 {
		tok := []byte(tokenShaped(rand.IntN(40), rand.IntN(40), rand.IntN(40)))
		for range rand.IntN(3) {
			const strangers = "=+/.\n A_"
			tok[rand.IntN(len(tok))] = strangers[rand.IntN(len(strangers))]
		}
		if got, want := canonicalJWS(string(tok)), reference(string(tok)); got != want {
			t.Fatalf("canonicalJWS(%q) = %v, want %v", tok, got, want)
		}
	}
	if tok := tokenShaped(100, 500, 256); !canonicalJWS(tok) {
		t.Errorf("a token encoded by the standard library is not canonical: %s", tok)
	}
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// BenchmarkCanonicalJWS is the check a session token not in the cache, or a
// refresh token, passes before anything else: a token shaped like Descope's
// (RS256, about 900 characters).
func BenchmarkCanonicalJWS(b *testing.B) {
	tok := tokenShaped(80, 540, 256)
	b.ReportAllocs()
	for b.Loop() {
		if !canonicalJWS(tok) {
			b.Fatal("not canonical")
		}
	}
	b.ReportMetric(float64(len(tok)), "chars")
}

// BenchmarkRejectedLookup is what the memory of rejected tokens adds to a
// refresh: one lookup of a token it does not hold, in a full memory.
func BenchmarkRejectedLookup(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	var r rejectedTokens
	for i := range maxRejected {
		r.remember(tokenShaped(80, 540, 256)+fmt.Sprint(i), 0, false, now)
	}
	tok := tokenShaped(80, 540, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.has(tok, now); ok {
			b.Fatal("known")
		}
	}
}

// BenchmarkRejectedMemory reports the heap a full memory of rejected tokens
// retains per entry (B/entry), measured after a GC before and after it was
// filled; the loop is a lookup.
func BenchmarkRejectedMemory(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	toks := make([]string, maxRejected)
	for i := range toks {
		toks[i] = fmt.Sprintf("%064d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := &rejectedTokens{}
	for _, tok := range toks {
		r.remember(tok, 0, false, now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / maxRejected
	if perEntry > rejectedEntryBytes {
		b.Errorf("%.1f B an entry, above rejectedEntryBytes (%d)", perEntry, rejectedEntryBytes)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.has(toks[0], now)
	}
	b.ReportMetric(perEntry, "B/entry")
	runtime.KeepAlive(r)
}
