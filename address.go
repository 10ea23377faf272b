package anonymous

import (
	"net/mail"
	"strings"

	"github.com/descope/go-sdk/descope"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
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
//   - both parts lower-cased after Unicode compatibility normalisation
//     (NFKC), and the domain in its ASCII form (IDNA, UTS #46 mapping:
//     "ＥＸＡＭＰＬＥ.com", "exämple.com" and "xn--exmple-cua.com" are written
//     the way a mail system resolves them), without a trailing dot;
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
	local := strings.ToLower(norm.NFKC.String(a.value[:at]))
	domain := strings.ToLower(norm.NFKC.String(a.value[at+1:]))
	if ascii, err := idna.Lookup.ToASCII(domain); err == nil {
		domain = ascii
	}
	domain = strings.TrimSuffix(domain, ".")
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
