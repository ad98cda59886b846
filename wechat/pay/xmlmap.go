package pay

import (
	"bytes"
	"crypto/hmac"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

// MaxBody bounds a WeChat Pay XML message. Real notifications are well under 4 KiB;
// anything near this is not from WeChat.
const MaxBody = 64 << 10

// Sign types WeChat Pay v2 accepts.
const (
	SignMD5        = util.SignTypeMD5
	SignHMACSHA256 = util.SignTypeHMACSHA256
)

var errMalformed = errors.New("malformed WeChat Pay XML")

// ParseXML reads a WeChat Pay v2 message: one <xml> root whose children are flat
// elements holding text (usually CDATA). It returns every field, because the
// signature covers every field the message has, including ones this service does not
// use (coupon_type_$n, coupon_id_$n, settlement_total_fee, ...).
//
// It is strict where leniency would let one signed message be read two ways: a
// field present twice, nested elements, attributes on fields and text outside the
// fields are refused.
func ParseXML(body []byte) (map[string]string, error) {
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: %d bytes", errMalformed, len(body))
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	fields := map[string]string{}
	depth := 0
	var name string
	var text strings.Builder
	rootSeen := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if rootSeen || t.Name.Local != "xml" || t.Name.Space != "" {
					return nil, fmt.Errorf("%w: root must be a single <xml>", errMalformed)
				}
				rootSeen = true
			case 2:
				if t.Name.Space != "" || len(t.Attr) > 0 {
					return nil, fmt.Errorf("%w: field %q with namespace or attributes", errMalformed, t.Name.Local)
				}
				name = t.Name.Local
				if _, dup := fields[name]; dup {
					return nil, fmt.Errorf("%w: field %q twice", errMalformed, name)
				}
				text.Reset()
			default:
				return nil, fmt.Errorf("%w: nested element in %q", errMalformed, name)
			}
		case xml.EndElement:
			if depth == 2 {
				fields[name] = text.String()
			}
			depth--
		case xml.CharData:
			switch depth {
			case 2:
				text.Write(t)
			default:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, fmt.Errorf("%w: text outside a field", errMalformed)
				}
			}
		case xml.Directive:
			// A DOCTYPE could declare entities; WeChat never sends one.
			return nil, fmt.Errorf("%w: directive", errMalformed)
		}
	}
	if !rootSeen {
		return nil, fmt.Errorf("%w: no <xml> root", errMalformed)
	}
	return fields, nil
}

// EncodeXML writes fields as a WeChat Pay message, keys sorted so the output is
// deterministic, values in CDATA-safe escaped text.
func EncodeXML(fields map[string]string) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range keys {
		b.WriteString("<" + k + ">")
		_ = xml.EscapeText(&b, []byte(fields[k]))
		b.WriteString("</" + k + ">")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// Sign computes WeChat Pay v2's signature of fields with the merchant API key:
// every non-empty field except sign, sorted by name, joined as k=v&..., then
// "&key=" + key, hashed with MD5 or HMAC-SHA256 and upper-cased. This is
// silenceper's algorithm (util.OrderParam + util.CalculateSign), used for requests,
// answers and notifications alike.
func Sign(fields map[string]string, signType, key string) (string, error) {
	if signType != SignMD5 && signType != SignHMACSHA256 {
		return "", fmt.Errorf("invalid sign_type %q", signType)
	}
	return util.CalculateSign(util.OrderParam(fields, "&key="+key), signType, key)
}

// Verify checks the sign field of a received message over every field it has. The
// sign type is the message's own sign_type, or def when it has none (WeChat omits
// it in notifications of MD5 orders). The comparison is constant-time.
func Verify(fields map[string]string, def, key string) bool {
	got, ok := fields["sign"]
	if !ok || got == "" {
		return false
	}
	st := fields["sign_type"]
	if st == "" {
		st = def
	}
	want, err := Sign(fields, st, key)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(want), []byte(got))
}
