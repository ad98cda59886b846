package pay_test

import (
	"encoding/base64"
	"maps"
	"strings"
	"testing"

	"nantian/scripts/fakepay"
	"nantian/wechat/pay"
)

// FuzzParseXML: the parser never panics, and what it accepts survives a round trip
// through EncodeXML unchanged (so a verified message has exactly one reading).
func FuzzParseXML(f *testing.F) {
	f.Add([]byte(`<xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>1</total_fee></xml>`))
	f.Add([]byte(`<?xml version="1.0"?><xml><a>1</a><b/></xml>`))
	f.Add([]byte(`<xml><a><b>1</b></a></xml>`))
	f.Add([]byte(`<xml><a>1</a><a>2</a></xml>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := pay.ParseXML(body)
		if err != nil {
			return
		}
		again, err := pay.ParseXML(pay.EncodeXML(m))
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("round trip: %v → %v (%v)", m, again, err)
		}
	})
}

// FuzzVerify: a message verifies only with its own signature; changing any field's
// value after signing breaks it.
func FuzzVerify(f *testing.F) {
	f.Add("out_trade_no", "NT1", "total_fee", "5000", "x", false)
	f.Add("coupon_fee_0", "100", "cash_fee", "4900", "y", true)
	const k = "0123456789abcdef0123456789ABCDEF"
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, tamper string, hmac bool) {
		st := pay.SignMD5
		if hmac {
			st = pay.SignHMACSHA256
		}
		m := map[string]string{k1: v1, k2: v2, "nonce_str": "n"}
		delete(m, "sign")
		if _, has := m["sign_type"]; has {
			m["sign_type"] = st
		}
		s, err := pay.Sign(m, st, k)
		if err != nil {
			t.Fatal(err)
		}
		m["sign"] = s
		if !pay.Verify(m, st, k) {
			t.Fatalf("own signature does not verify: %v", m)
		}
		if k1 == "sign" || k1 == "sign_type" || tamper == m[k1] || strings.ContainsAny(k1+tamper, "&=") {
			return
		}
		if m[k1] == "" && tamper == "" {
			return
		}
		m[k1] = tamper
		if pay.Verify(m, st, k) {
			t.Fatalf("tampered %s=%q still verifies: %v", k1, tamper, m)
		}
	})
}

// FuzzNotifications: neither notification parser panics on anything (the refund
// notification's decryption is fed arbitrary ciphertext, including bad padding).
func FuzzNotifications(f *testing.F) {
	const k = "0123456789abcdef0123456789ABCDEF"
	c, err := pay.New(pay.Config{AppID: "wx", MchID: "1900000109", APIKey: k, CertP12: certFor(f), NotifyURL: "https://x/n", RefundNotifyURL: "https://x/r"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`<xml><return_code>SUCCESS</return_code><sign>X</sign></xml>`), []byte("0123456789abcdef"))
	f.Add([]byte(`<xml/>`), []byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, body, cipher []byte) {
		_, _ = c.ParsePaidNotify(body)
		_, _ = c.ParseRefundNotify(body)
		refund := fakepay.Encode(map[string]string{"return_code": "SUCCESS", "appid": "wx", "mch_id": "1900000109",
			"req_info": base64.StdEncoding.EncodeToString(cipher)})
		if _, err := c.ParseRefundNotify(refund); err == nil {
			// Random ciphertext that decrypts to a well-formed refund is astronomically
			// unlikely; if it happens the parser must have checked the fields.
			t.Logf("random req_info accepted: %x", cipher)
		}
	})
}

func certFor(f *testing.F) []byte {
	ca, err := fakepay.NewCA()
	if err != nil {
		f.Fatal(err)
	}
	p12, err := ca.MerchantP12("1900000109", nowMinusHour(), nowPlusDay())
	if err != nil {
		f.Fatal(err)
	}
	return p12
}
