package anonymous_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/descope-contrib/anonymous"
)

// 7. The per-address code limit counts the spellings of one Gmail mailbox
// as one: dots, +tags, case and googlemail.com.
func TestSecurityGmailSpellingsAreOneMailbox(t *testing.T) {
	w := newWorld(t, nil, calm)
	spellings := []string{
		"abc@gmail.com", "a.b.c@gmail.com", "abc@googlemail.com", "ABC@GMAIL.COM", "a.bc+x@gmail.com",
		"ab.c@GoogleMail.com", "abc+1@googlemail.com", "A.B.C+y@Gmail.com", "ab.c+q@gmail.com", "abc+@gmail.com",
		"a.b.c+z@googlemail.com", "Abc@gmail.com", "ab.c+2@gmail.com", "a.b.c@GMAIL.com", "abc+3@gmail.com",
		"a.bc@googlemail.com", "ABC+4@googlemail.com", "a.b.c+5@gmail.com", "ab.c+6@googlemail.com", "abc+7@gmail.com",
	}
	sent, limited := 0, 0
	var b *http.Client
	for i, addr := range spellings {
		if i%5 == 0 { // a visitor may be sent 5 codes
			b, _ = w.Visitor(t)
		}
		switch st := w.Start(t, b, addr); st.Status {
		case http.StatusOK:
			sent++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("start to %s: %+v (%v)", addr, st, w.Convs.All())
		}
	}
	if n := w.Emu.Requests("/v1/auth/otp/update/email"); sent != 10 || n != 10 {
		t.Errorf("%d spellings of one mailbox: %d codes sent (Descope saw %d), %d refused; want 10 sent", len(spellings), sent, n, limited)
	}
	if errs := w.Convs.All(); len(errs) == 0 || !errors.Is(errs[len(errs)-1], anonymous.ErrTooManyCodes) {
		t.Errorf("refusals: %v", errs)
	} else if msg := fmt.Sprint(errs[len(errs)-1]); !strings.Contains(msg, "per address") {
		t.Errorf("refusal %q does not name the address limit", msg)
	}
}
