package handlers

import (
	"bytes"
	"testing"
)

// FuzzCanonicalJSON: any body hashes without panicking, canonical form is a
// fixed point, and two spellings of the same JSON hash alike.
func FuzzCanonicalJSON(f *testing.F) {
	f.Add([]byte(`{"session_id": 7, "waitlist": true}`))
	f.Add([]byte(`{"b":[1,2,{"z":null,"a":"x"}],"a":1.50}`))
	f.Add([]byte(`{"a":1} {"b":2}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := canonicalJSON(body)
		if again := canonicalJSON(c); !bytes.Equal(again, c) {
			t.Fatalf("not a fixed point: %q -> %q -> %q", body, c, again)
		}
		_ = RequestHash("POST", "/api/v1/bookings", body)
	})
}

func TestRequestHashIgnoresJSONSpelling(t *testing.T) {
	a := RequestHash("POST", "/x", []byte(`{"session_id": 7, "waitlist": true}`))
	b := RequestHash("POST", "/x", []byte("{\"waitlist\":true,\n\"session_id\":7}"))
	c := RequestHash("POST", "/x", []byte(`{"session_id": 8, "waitlist": true}`))
	d := RequestHash("POST", "/y", []byte(`{"session_id": 7, "waitlist": true}`))
	if a != b {
		t.Error("same JSON, different spelling: different hashes")
	}
	if a == c || a == d {
		t.Error("different body or path: same hash")
	}
	if RequestHash("POST", "/x", []byte(`{"n":1.0}`)) == RequestHash("POST", "/x", []byte(`{"n":1}`)) {
		t.Error("numbers must be kept as sent (1.0 and 1 may mean different things to a handler)")
	}
}
