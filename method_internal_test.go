package anonymous

import (
	"encoding/json"
	"testing"
)

// A pending record stored before records named their method is a one-time
// code's; one a newer version stored with a method this version does not
// know finishes with no method here; an OTP record is stored as before.
func TestPendingRecordMethod(t *testing.T) {
	for raw, want := range map[string]string{
		`{"a":"ada@example.com","l":"gen-1"}`:      methodOTP,
		`{"a":"ada@example.com","m":"link"}`:       methodLink,
		`{"a":"ada@example.com","m":"passkey-v9"}`: "passkey-v9",
	} {
		var p pendingConversion
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			t.Fatal(err)
		}
		if got := p.method(); got != want {
			t.Errorf("%s: method %q, want %q", raw, got, want)
		}
		for _, mt := range []method{otpMethod{}, linkMethod{}} {
			if (mt.kind() == p.method()) != (mt.kind() == want) {
				t.Errorf("%s: %s would finish it", raw, mt.kind())
			}
		}
	}
	b, _ := json.Marshal(pendingConversion{Address: "ada@example.com", LoginID: "gen-1"})
	if string(b) != `{"a":"ada@example.com","l":"gen-1"}` {
		t.Errorf("OTP record stored as %s", b)
	}
}
