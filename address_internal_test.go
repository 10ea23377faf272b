package anonymous

import "testing"

// The code limit counts the ways of writing one mailbox as one, and keeps
// apart the addresses that are different mailboxes.
func TestLimitKey(t *testing.T) {
	same := [][]string{
		{"abc@gmail.com", "a.b.c@gmail.com", "ABC@googlemail.com", "a.b.c+x@GoogleMail.com", "abc+@gmail.com",
			"ａｂｃ@gmail.com", "abc@ｇｍａｉｌ.com", "abc@GMAIL.COM", "abc@gmail.com。"},
		{"ada@example.com", "ADA@Example.COM", "ada+news@example.com", "Ada+x+y@EXAMPLE.com"},
		{"ada@exämple.com", "ADA@EXÄMPLE.COM", "ada+1@exämple.com"},
		{"ada@xn--exmple-cua.com", "ada+1@XN--EXMPLE-CUA.com"}, // the same domain in punycode: counted apart (see limitKey)
		{"+14155550100"},
	}
	keys := map[string]int{}
	for i, group := range same {
		for _, s := range group {
			a, err := parseAddress(s)
			if err != nil {
				t.Fatalf("parse %q: %v", s, err)
			}
			k := a.limitKey()
			if j, seen := keys[k]; seen && j != i {
				t.Errorf("%q counts as group %d, want %d", s, j, i)
			}
			keys[k] = i
			if first, _ := parseAddress(group[0]); first.limitKey() != k {
				t.Errorf("%q counts as %q, %q as %q", s, k, group[0], first.limitKey())
			}
		}
	}
	// Dots matter outside Gmail; the address sent to Descope keeps them.
	for _, pair := range [][2]string{{"a.da@example.com", "ada@example.com"}, {"abc@gmail.co", "abc@gmail.com"}, {"+14155550100", "+14155550101"}} {
		a, _ := parseAddress(pair[0])
		b, _ := parseAddress(pair[1])
		if a.limitKey() == b.limitKey() {
			t.Errorf("%q and %q count as one: %q", pair[0], pair[1], a.limitKey())
		}
	}
	if a, _ := parseAddress("A.B.C+x@GoogleMail.com"); a.value != "a.b.c+x@googlemail.com" {
		t.Errorf("the address sent is %q", a.value)
	}
}
