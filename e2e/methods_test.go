package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The conversion methods of the example's page, each driven through the
// page as a visitor does: the one-time code (the code from the page's dev
// panel), the magic link (the link from the dev panel, opened in the same
// browser), social login (the emulator's provider page standing in for
// Google: its form filled and submitted) and passkeys (Chromium's virtual
// authenticator, passkey_page_test.go).
//
// TestBrowserConvertBy… converts a visitor with notes, then signs in again
// from a fresh profile with the same method; TestBrowserReturningBy… lets a
// new visitor with notes convert with an address that is already an
// account's, on a server run each way: signed in (the default), refused
// (-returning=false) and merged (-merge).

// method is a conversion method the page offers.
type method struct {
	name string
	// convert runs the method from the conversion box of the page open in
	// tab, for the address (the provider account's email for social
	// login), until the page shows how it ended, and returns that:
	// body[data-outcome], "converted", "created", "signed_in", "in_use"
	// or "error".
	convert func(t *testing.T, tab context.Context, email string) string
	// converted is the outcome of a new address: the same user
	// ("converted"), or a new user the notes moved to ("created").
	converted string
	// named: the method's accounts have a name, not an email address
	// (passkeys).
	named bool
}

// address is what who converts with by m: an email address, or a name.
func (m method) address(who string) string {
	if m.named {
		return who + "." + m.name
	}
	return who + "." + m.name + "@example.com"
}

var (
	byCode   = method{name: "code", convert: convertByCode, converted: "converted"}
	byLink   = method{name: "link", convert: convertByLink, converted: "converted"}
	bySocial = method{name: "social", convert: convertBySocial, converted: "created"}
)

func TestBrowserConvertByCode(t *testing.T)   { testConvertAndSignIn(t, byCode) }
func TestBrowserConvertByLink(t *testing.T)   { testConvertAndSignIn(t, byLink) }
func TestBrowserConvertBySocial(t *testing.T) { testConvertAndSignIn(t, bySocial) }

// testConvertAndSignIn converts a visitor with a note by m: a regular user
// with the note (the same user ID for a code or a link, which the
// server's user-backed strategy keeps; a new user the note moved to for
// social login, which signs up a new user); a reload keeps it; Sign out
// makes a new anonymous visitor; and in a fresh profile the same method
// signs in to that account ("signed_in", the same user ID, its note).
func testConvertAndSignIn(t *testing.T, m method) {
	needChromium(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	base, _ := startServer(t, ctx)
	browser := newProfile(t, ctx)
	email := m.address("ada")
	note := "Note kept by " + m.name

	tab := newVisitor(t, browser)
	run(t, tab, chromedp.Navigate(base))
	first := readPage(t, tab)
	if first.kind != "anonymous" || first.id == "" {
		t.Fatalf("first visit: %+v, want an anonymous user", first)
	}
	addNote(t, tab, note)
	if got := m.convert(t, tab, email); got != m.converted {
		t.Fatalf("conversion by %s: outcome %q, want %q (page says %q)", m.name, got, m.converted, message(tab))
	}
	account := readPage(t, tab)
	switch {
	case account.kind != "regular" || !slices.Equal(account.notes, []string{note}) || !strings.Contains(account.login, email):
		t.Fatalf("after conversion: %+v, want a regular user %s with the note %q", account, email, note)
	case m.converted == "converted" && account.id != first.id:
		t.Fatalf("after conversion: user %s, want the same user %s", account.id, first.id)
	case m.converted == "created" && account.id == first.id:
		t.Fatalf("after social login: user %s, want a new user", account.id)
	}

	run(t, tab, chromedp.Reload())
	if p := readPage(t, tab); p.id != account.id || p.kind != "regular" || !slices.Equal(p.notes, []string{note}) {
		t.Fatalf("after reload: %+v, want %+v", p, account)
	}

	signOut(t, tab)
	if p := readPage(t, tab); p.kind != "anonymous" || p.id == account.id || p.id == first.id || len(p.notes) != 0 {
		t.Fatalf("after sign out: %+v, want a new anonymous visitor", p)
	}

	fresh := newVisitor(t, browser)
	run(t, fresh, chromedp.Navigate(base))
	if p := readPage(t, fresh); p.kind != "anonymous" || p.id == account.id {
		t.Fatalf("fresh profile: %+v, want an anonymous visitor", p)
	}
	if got := m.convert(t, fresh, email); got != "signed_in" {
		t.Fatalf("sign-in by %s from a fresh profile: outcome %q, want signed_in (page says %q)", m.name, got, message(fresh))
	}
	if p := readPage(t, fresh); p.id != account.id || p.kind != "regular" || !slices.Equal(p.notes, []string{note}) {
		t.Fatalf("signed in from a fresh profile: %+v, want %+v", p, account)
	}
	if msg := message(fresh); !strings.Contains(msg, "signed in to your account") {
		t.Errorf("the page says %q after signing in", msg)
	}
	t.Logf("%s: converted, signed out and signed in again in %v", t.Name(), time.Since(began).Round(100*time.Millisecond))
}

func TestBrowserReturningByCode(t *testing.T)   { testReturning(t, byCode) }
func TestBrowserReturningByLink(t *testing.T)   { testReturning(t, byLink) }
func TestBrowserReturningBySocial(t *testing.T) { testReturning(t, bySocial) }

// testReturning makes an account by m in one profile, then has a new
// visitor with a note convert by m with the same address, on a server run
// each way. Signed in (the default): the visitor is in the account, same
// user ID, the account's note intact and the visitor's moved in by the
// OnConvert hook, its anonymous user left for Cull. Refused
// (-returning=false): the page says the address has an account, the
// visitor stays as it was, and the account is intact. Merged (-merge):
// signed in, the visitor's note moved in by the merge hook, and its
// anonymous user deleted.
func testReturning(t *testing.T, m method) {
	needChromium(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	browser := newProfile(t, ctx)
	const userDelete = "/v1/mgmt/user/delete"
	for _, tc := range []struct {
		name    string
		flags   []string
		outcome string // of the visitor's conversion
		deleted int    // users deleted by it
	}{
		{"signed-in", nil, "signed_in", 0},
		{"refused", []string{"-returning=false"}, "in_use", 0},
		{"merged", []string{"-merge"}, "signed_in", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, admin := startServer(t, ctx, tc.flags...)
			email := m.address("owner")
			const accountNote, visitorNote = "The account's note", "The visitor's note"

			owner := newVisitor(t, browser)
			run(t, owner, chromedp.Navigate(base))
			readPage(t, owner)
			addNote(t, owner, accountNote)
			if got := m.convert(t, owner, email); got != m.converted {
				t.Fatalf("the account's conversion: outcome %q, want %q (page says %q)", got, m.converted, message(owner))
			}
			account := readPage(t, owner)

			visitor := newVisitor(t, browser)
			run(t, visitor, chromedp.Navigate(base))
			anon := readPage(t, visitor)
			addNote(t, visitor, visitorNote)
			deletes := emulatorRequests(t, admin, userDelete)
			if got := m.convert(t, visitor, email); got != tc.outcome {
				t.Fatalf("a returning customer's conversion: outcome %q, want %q (page says %q)", got, tc.outcome, message(visitor))
			}
			p := readPage(t, visitor)
			if tc.outcome == "in_use" {
				if msg := message(visitor); !strings.Contains(msg, "has an account") {
					t.Errorf("the page says %q, want that the address has an account", msg)
				}
				run(t, visitor, chromedp.Reload())
				if p := readPage(t, visitor); p.id != anon.id || p.kind != "anonymous" || !slices.Equal(p.notes, []string{visitorNote}) {
					t.Errorf("the refused visitor: %+v, want anonymous %s with its note", p, anon.id)
				}
			} else {
				if p.id != account.id || p.kind != "regular" || !slices.Contains(p.notes, accountNote) || !slices.Contains(p.notes, visitorNote) {
					t.Errorf("the returning customer: %+v, want %s with both notes", p, account.id)
				}
				if msg := message(visitor); !strings.Contains(msg, "signed in to your account") {
					t.Errorf("the page says %q", msg)
				}
			}
			if n := emulatorRequests(t, admin, userDelete) - deletes; n != tc.deleted {
				t.Errorf("%d users deleted, want %d (the anonymous user)", n, tc.deleted)
			}

			// The account: same user ID, its note intact (and, unless
			// refused, the visitor's beside it).
			run(t, owner, chromedp.Reload())
			want := []string{accountNote, visitorNote}
			if tc.outcome == "in_use" {
				want = want[:1]
			}
			if p := readPage(t, owner); p.id != account.id || p.kind != "regular" || !slices.Equal(p.notes, want) {
				t.Errorf("the account after: %+v, want %s with notes %q", p, account.id, want)
			}
		})
	}
	t.Logf("%s: three servers in %v", t.Name(), time.Since(began).Round(100*time.Millisecond))
}

// convertByCode sends a code from the conversion box and verifies the code
// the page's dev panel shows.
func convertByCode(t *testing.T, tab context.Context, email string) string {
	t.Helper()
	if !startFromBox(t, tab, email, "send-code") {
		return outcome(t, tab)
	}
	code := get[string](t, tab, chromedp.Text(chromedp.ID("dev-code")))
	if len(code) < 4 {
		t.Fatalf("the dev panel shows the code %q", code)
	}
	run(t, tab,
		chromedp.SetValue(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("verify")),
	)
	return outcome(t, tab)
}

// convertByLink has a link sent from the conversion box and opens the link
// the dev panel shows in the same browser: the landing page posts its
// token.
func convertByLink(t *testing.T, tab context.Context, email string) string {
	t.Helper()
	if !startFromBox(t, tab, email, "send-link") {
		return outcome(t, tab)
	}
	link := get[string](t, tab, chromedp.Evaluate[string](`document.getElementById("dev-link").href`))
	if !strings.Contains(link, "/convert/link?t=") {
		t.Fatalf("the dev panel shows the link %q", link)
	}
	run(t, tab, chromedp.Navigate(link))
	return outcome(t, tab)
}

// convertBySocial presses Continue with Google, types the account's email
// on the emulator's provider page and submits it: the provider redirects to
// the callback page, which posts the code and state.
func convertBySocial(t *testing.T, tab context.Context, email string) string {
	t.Helper()
	run(t, tab,
		chromedp.Evaluate[chromedp.Void](`delete document.body.dataset.outcome`),
		chromedp.Click(chromedp.ID("oauth-google")),
	)
	// #allow is the provider page's; the example's page has none.
	run(t, tab,
		chromedp.WaitVisible(chromedp.ID("allow")),
		chromedp.SetValue(chromedp.ID("email"), email),
		chromedp.Click(chromedp.ID("allow")),
	)
	return outcome(t, tab)
}

// startFromBox types the address into the conversion box and presses the
// button; it reports whether the dev panel then shows what was sent (else
// the start failed, and the page shows why).
func startFromBox(t *testing.T, tab context.Context, email, button string) bool {
	t.Helper()
	run(t, tab,
		chromedp.Evaluate[chromedp.Void](`delete document.body.dataset.outcome; delete document.body.dataset.sent`),
		chromedp.SetValue(chromedp.ID("email"), email),
		chromedp.Click(chromedp.ID(button)),
	)
	sent := waitFor(t, tab, `document.body.dataset.sent === `+jsString(email)+` ? "sent" : (document.body.dataset.outcome || "")`, "the start to answer")
	return sent == "sent"
}

// outcome waits, through the navigations of a link or a provider page, for
// the example's page to show how the conversion ended.
func outcome(t *testing.T, tab context.Context) string {
	t.Helper()
	return waitFor(t, tab, `location.pathname === "/" && document.body.dataset.state === "ready" && document.body.dataset.outcome || ""`, "the conversion's outcome")
}

// waitFor evaluates the JavaScript expression until it gives a non-empty
// string, for up to 15 seconds, through navigations (whose page may be
// gone, or not the example's, in between), and returns it.
func waitFor(t *testing.T, tab context.Context, expr, what string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(tab, deadline)
		v, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { try { return `+expr+`; } catch { return ""; } })()`,
			chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil && v != "" {
			return v
		}
		if err != nil {
			last = err
		}
		if tab.Err() != nil {
			break
		}
	}
	if last == nil {
		last = errors.New("timed out")
	}
	t.Fatalf("waiting for %s: %v (page says %q)", what, last, message(tab))
	return ""
}

// addNote writes a note on the page and waits for it to be listed.
func addNote(t *testing.T, tab context.Context, text string) {
	t.Helper()
	run(t, tab,
		chromedp.SetValue(chromedp.ID("note-text"), text),
		chromedp.Click(chromedp.ID("add-note")),
	)
	waitJS(t, tab, `Array.from(document.querySelectorAll("#notes li span"), (e) => e.textContent).includes(`+jsString(text)+`)`, "the note to appear")
}

// signOut presses Sign out and waits for the page to reload as a new
// anonymous visitor.
func signOut(t *testing.T, tab context.Context) {
	t.Helper()
	if label := get[string](t, tab, chromedp.Text(chromedp.ID("logout"))); label != "Sign out" {
		t.Fatalf("the regular user's button says %q, want Sign out", label)
	}
	run(t, tab, chromedp.Click(chromedp.ID("logout")))
	waitFor(t, tab, `document.body.dataset.state === "ready" && document.body.dataset.kind === "anonymous" ? "out" : ""`, "the page to reload signed out")
}

// newVisitor opens a tab in a new browser context of browser: a fresh
// profile, with no cookies or storage of any other.
func newVisitor(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	if err := chromedp.Do(browser); err != nil { // starts the browser, once
		t.Fatal(err)
	}
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return tab
}

// message is what the page's message line says, or "".
func message(tab context.Context) string {
	msg, _ := chromedp.Run(tab, chromedp.Evaluate[string](`(document.getElementById("message") || {}).textContent || ""`))
	return msg
}

// A magic link opened in another browser (a forwarded mail, or an attacker
// who had a link sent to their own address and opens it in a victim's
// browser) converts nothing there: the page says to open it in the browser
// that asked for it, and that visitor stays anonymous. The browser that
// asked converts with it afterwards.
func TestBrowserLinkInAnotherBrowser(t *testing.T) {
	needChromium(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	base, _ := startServer(t, ctx)
	browser := newProfile(t, ctx)
	const email = "mallory@example.com"

	asker := newVisitor(t, browser)
	run(t, asker, chromedp.Navigate(base))
	first := readPage(t, asker)
	if !startFromBox(t, asker, email, "send-link") {
		t.Fatalf("link start: page says %q", message(asker))
	}
	link := get[string](t, asker, chromedp.Evaluate[string](`document.getElementById("dev-link").href`))

	other := newVisitor(t, browser)
	run(t, other, chromedp.Navigate(base))
	victim := readPage(t, other)
	run(t, other, chromedp.Navigate(link))
	if got := outcome(t, other); got != "error" {
		t.Fatalf("the link in another browser: outcome %q (page says %q), want an error", got, message(other))
	}
	if msg := message(other); !strings.Contains(msg, "Open the link in the browser you asked for it from") {
		t.Errorf("the other browser's page says %q", msg)
	}
	if p := readPage(t, other); p.id != victim.id || p.kind != "anonymous" {
		t.Errorf("the other browser after the link: %+v, want anonymous %s", p, victim.id)
	}

	run(t, asker, chromedp.Navigate(link))
	if got := outcome(t, asker); got != "converted" {
		t.Fatalf("the link in the browser that asked: outcome %q (page says %q)", got, message(asker))
	}
	if p := readPage(t, asker); p.id != first.id || p.kind != "regular" {
		t.Errorf("the asker after the link: %+v, want regular %s", p, first.id)
	}
	t.Logf("%s: %v", t.Name(), time.Since(began).Round(100*time.Millisecond))
}
