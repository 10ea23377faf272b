package descopetest

import (
	"strings"
	"unicode/utf8"
)

// A user's email and phone are its addresses, of the class "email" or
// "phone": the class names both the kind of address and the user fields
// (email and verifiedEmail, phone and verifiedPhone) that hold it.

// methodClass maps a delivery method to the class of address it uses.
func methodClass(method string) (string, bool) {
	switch method {
	case "email":
		return "email", true
	case "sms", "voice", "whatsapp":
		return "phone", true
	}
	return "", false
}

// addressNoun names the class of address in error messages.
func addressNoun(class string) string {
	if class == "email" {
		return "email address"
	}
	return "phone number"
}

// looksLike reports whether s can be an address of the class.
func looksLike(class, s string) bool {
	if class == "email" {
		return looksLikeEmail(s)
	}
	return looksLikePhone(s)
}

// looksLikeEmail is a deliberately loose check: something@something.tld.
func looksLikeEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(s, " \t\r\n") &&
		strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.Contains(domain, "@")
}

// looksLikePhone accepts an optional leading + and 6-15 digits, allowing
// spaces, dashes, dots and parentheses between them.
func looksLikePhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 6 && digits <= 15
}

// masked is the answer of a call that sent a code to address: the address
// with most of it hidden, as maskedEmail or maskedPhone.
func masked(class, address string) any {
	if class == "email" {
		return map[string]string{"maskedEmail": maskEmail(address)}
	}
	return map[string]string{"maskedPhone": maskPhone(address)}
}

// maskEmail keeps the first letter of the local part and the domain.
func maskEmail(s string) string {
	local, domain, _ := strings.Cut(s, "@")
	first, _ := utf8.DecodeRuneInString(local)
	if first == utf8.RuneError {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}

// maskPhone keeps the last two characters.
func maskPhone(s string) string {
	if len(s) <= 2 {
		return "***"
	}
	return strings.Repeat("*", len(s)-2) + s[len(s)-2:]
}

// addressFields are the fields of a request that changes a user's email or
// phone: the user, by login ID, and the new address.
type addressFields struct {
	LoginID string `json:"loginId"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
}

// address returns the new address of the class, trimmed.
func (f *addressFields) address(class string) string {
	if class == "email" {
		return strings.TrimSpace(f.Email)
	}
	return strings.TrimSpace(f.Phone)
}

// address returns p's address of the class.
func (p *profile) address(class string) string {
	if class == "email" {
		return p.email
	}
	return p.phone
}

// setAddress stores address as p's address of the class, verified or not.
func (p *profile) setAddress(class, address string, verified bool) {
	if class == "email" {
		p.email, p.verifiedEmail = address, verified
	} else {
		p.phone, p.verifiedPhone = address, verified
	}
}

// markVerified marks address verified on p if it is p's address of the
// class, or adopts it, verified, if p has none of that class.
func (p *profile) markVerified(class, address string) {
	if cur := p.address(class); cur == "" || normLogin(cur) == normLogin(address) {
		p.setAddress(class, address, true)
	}
}
