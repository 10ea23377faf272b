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

// limitKey is the address as the code limits count it: an email without its
// "+tag" (ada+1@x and ada+2@x reach one mailbox), a phone as it is.
func (a address) limitKey() string {
	if a.phone {
		return a.value
	}
	at := strings.LastIndexByte(a.value, '@')
	local, domain := a.value[:at], a.value[at:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return local + domain
}
