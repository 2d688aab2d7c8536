package relay

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzFrame: a runner connection's binary frame splits into its terminal
// ID and bytes, and joining them again gives the same frame; a frame
// shorter than the header is refused.
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'l', 's', '\n'})
	f.Add([]byte{0, 0})
	f.Add([]byte{})
	f.Add([]byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, p, err := DecodeFrame(b)
		if len(b) < HeaderLen {
			if err == nil {
				t.Fatalf("DecodeFrame(%x) accepted a short frame", b)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeFrame(%x): %v", b, err)
		}
		if got := EncodeFrame(id, p); !bytes.Equal(got, b) {
			t.Fatalf("EncodeFrame(DecodeFrame(%x)) = %x", b, got)
		}
	})
}

// FuzzMessage: any text frame read as a control message either fails to
// decode or, encoded again, decodes to the same message.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{`{"type":"open","id":1,"cols":80,"rows":24,"window":65536}`, `{"type":"exit","id":2,"code":0}`, `{"type":"hello","name":"laptop","os":"linux","arch":"amd64","version":"v1.2.3"}`, `{"type":"auth","ticket":"t","terminal":"k"}`, `{"type":"ack","n":-1}`, `{"type":"resize","cols":1e9}`, `[]`, `{"code":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if json.Unmarshal(b, &m) != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", m, err)
		}
		var m2 Message
		if err := json.Unmarshal(out, &m2); err != nil {
			t.Fatalf("a message does not decode again: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message: %+v then %+v", m, m2)
		}
	})
}
