package anonymous

import (
	"net/mail"
	"strings"

	"github.com/descope/go-sdk/descope"
)

// address is a parsed email address or phone number.
type address struct {
	value string
	phone bool
}

// parseAddress accepts a bare email address or an E.164 phone number
// (+ and 7 to 15 digits; spaces, dots, dashes and parentheses are dropped).
func parseAddress(s string) (address, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return address{}, ErrInvalidAddress
	}
	if strings.Contains(s, "@") {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
			return address{}, ErrInvalidAddress
		}
		return address{value: strings.ToLower(s)}, nil
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" .-()", r):
		default:
			return address{}, ErrInvalidAddress
		}
	}
	p := b.String()
	if len(p) < 8 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return address{}, ErrInvalidAddress
	}
	return address{value: p, phone: true}, nil
}

// method is the OTP delivery method for the address.
func (a address) method() descope.DeliveryMethod {
	if a.phone {
		return descope.MethodSMS
	}
	return descope.MethodEmail
}

// limitKey is the address as the code limits count it, so that the ways of
// writing one mailbox count as one; Descope is still sent the address as
// written. A phone is counted as it is (E.164 already); an email address
// with
//   - the fullwidth forms of ASCII and the ideographic full stops mapped to
//     ASCII ("ａｂｃ@ｇｍａｉｌ.com", "gmail.com。"), as Unicode compatibility
//     normalisation and IDNA map them, and both parts lower-cased, without a
//     trailing dot. (A domain written in Unicode and the same domain in
//     punycode still count apart: two limits at most for such a domain;
//     decoding punycode would take a dependency the core module does not
//     carry);
//   - a "+tag" dropped, whatever the domain: Gmail, Outlook, iCloud,
//     Fastmail and Proton deliver ada+tag@ to ada@, and where a domain does
//     not, two people share a limit, the safe side of a limit;
//   - for Gmail (gmail.com, and googlemail.com, the same mailboxes) the dots
//     of the local part dropped too: Gmail ignores them.
func (a address) limitKey() string {
	if a.phone {
		return a.value
	}
	at := strings.LastIndexByte(a.value, '@')
	local := strings.ToLower(strings.Map(narrow, a.value[:at]))
	domain := strings.TrimSuffix(strings.ToLower(strings.Map(narrow, a.value[at+1:])), ".")
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// narrow maps the fullwidth forms of ASCII (U+FF01 to U+FF5E) to ASCII, and
// the ideographic and fullwidth full stops to '.', as NFKC does.
func narrow(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == 0x3002, r == 0xFF61:
		return '.'
	}
	return r
}
