package anonymous

import "fmt"

// A compact JWS (RFC 7515, section 7.1) is three segments of base64url
// without padding (RFC 7515, section 2, "Base64url Encoding"). A segment
// whose length is 2 or 3 modulo 4 ends in a character that carries 4 or 2
// bits beyond the encoded bytes; decoders ignore them (RFC 4648, section
// 3.5), and the SDK's JWT library (lestrrat-go/jwx v2, internal/base64)
// also takes padding and the standard alphabet's '+' and '/'. So one token
// has many spellings that decode to the same bytes: in the signature
// segment, which the signature does not cover, each of them verifies. A
// token is accepted only in its one canonical spelling, refused before any
// other check: the other spellings are never verified, cached, or sent to
// Descope.

// errNonCanonical is a token that is not three segments of canonical
// base64url.
var errNonCanonical = fmt.Errorf("%w: not canonical base64url", ErrInvalidToken)

// b64urlValue maps a byte to its value in the base64url alphabet, and every
// other byte (the padding '=', '+', '/', the dot, anything else) to 0xff.
var b64urlValue = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		m[c] = byte(i)
	}
	return m
}()

// canonicalJWS reports whether tok is three non-empty segments, separated by
// dots, each the canonical unpadded base64url spelling of its bytes: only
// base64url characters, a length that is not 1 modulo 4, and zero bits
// beyond the bytes in the last character. It reads each byte once, eight at
// a time where none is a dot or a stranger, and allocates nothing.
func canonicalJWS(tok string) bool {
	dots, start := 0, 0
	for i := 0; i < len(tok); {
		if i+8 <= len(tok) {
			b := tok[i : i+8]
			if (b64urlValue[b[0]]|b64urlValue[b[1]]|b64urlValue[b[2]]|b64urlValue[b[3]]|
				b64urlValue[b[4]]|b64urlValue[b[5]]|b64urlValue[b[6]]|b64urlValue[b[7]])&0x80 == 0 {
				i += 8
				continue
			}
		}
		if b64urlValue[tok[i]] == 0xff {
			if tok[i] != '.' || dots == 2 || !canonicalSegment(tok[start:i]) {
				return false
			}
			dots++
			start = i + 1
		}
		i++
	}
	return dots == 2 && canonicalSegment(tok[start:])
}

// canonicalSegment reports whether seg, of base64url characters only, is
// non-empty and the canonical spelling of its bytes.
func canonicalSegment(seg string) bool {
	if len(seg) == 0 {
		return false
	}
	last := b64urlValue[seg[len(seg)-1]]
	switch len(seg) % 4 {
	case 1:
		return false // 6 bits: no whole byte
	case 2:
		return last&0x0f == 0 // one byte: 4 bits beyond it
	case 3:
		return last&0x03 == 0 // two bytes: 2 bits beyond them
	}
	return true
}
