package complaint

import (
	"bufio"
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

func testJPEG(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withSegment inserts a marker segment right after SOI.
func withSegment(src []byte, marker byte, payload string) []byte {
	n := len(payload) + 2
	seg := append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
	out := append([]byte{}, src[:2]...)
	out = append(out, seg...)
	return append(out, src[2:]...)
}

func TestStripJPEGMetadata(t *testing.T) {
	plain := testJPEG(t)
	src := withSegment(withSegment(plain, 0xE1, "Exif\x00\x00GPSLatitude"), 0xED, "Photoshop 3.0\x008BIMcity")
	var out bytes.Buffer
	n, err := StripJPEGMetadata(&out, bufio.NewReader(bytes.NewReader(src)))
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != out.Len() || !bytes.Equal(out.Bytes(), plain) {
		t.Fatalf("stripped %d bytes, want exactly the original %d without metadata", out.Len(), len(plain))
	}
	// A phone's extra pictures after EOI (MPF: depth map, HDR frame), each with
	// its own EXIF, go; so do the MPF index and comments; the ICC profile stays.
	second := withSegment(testJPEG(t), 0xE1, "Exif\x00\x00GPSLatitude=22.54N")
	icc := "ICC_PROFILE\x00\x01\x01profile-bytes"
	phone := append(withSegment(withSegment(withSegment(src, 0xE2, "MPF\x00\x00\x00next-picture-offsets"), 0xFE, "taken at home"), 0xE2, icc), second...)
	out.Reset()
	if _, err := StripJPEGMetadata(&out, bufio.NewReader(bytes.NewReader(phone))); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"GPS", "MPF", "taken at home", "Exif"} {
		if bytes.Contains(out.Bytes(), []byte(leak)) {
			t.Errorf("stripped JPEG still holds %q", leak)
		}
	}
	if want := withSegment(plain, 0xE2, icc); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("stripped phone JPEG is not the image with its ICC profile (%d bytes, want %d)", out.Len(), len(want))
	}
	if _, err := jpeg.Decode(bytes.NewReader(out.Bytes())); err != nil {
		t.Errorf("stripped JPEG does not decode: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("GIF89a"), {0xFF, 0xD8, 0x00}, {0xFF, 0xD8, 0xFF, 0xE1, 0x00}, {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 1},
		plain[:len(plain)-2]} { // no EOI
		if _, err := StripJPEGMetadata(&bytes.Buffer{}, bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

// FuzzStripJPEGMetadata: arbitrary bytes never panic; whatever comes out of a
// successful strip holds only segments that draw the image before the scan, ends at its EOI,
// and strips to itself.
func FuzzStripJPEGMetadata(f *testing.F) {
	f.Add(withSegment(testJPEG(f), 0xE1, "Exif\x00\x00GPS"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xD9})
	f.Add(withSegment(withSegment(withSegment(testJPEG(f), 0xE0, "JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x01\x01RGB"), 0xE7, "vendor"), 0xEE, "Adobe\x00\x64\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if _, err := StripJPEGMetadata(&out, bufio.NewReader(bytes.NewReader(data))); err != nil {
			return
		}
		b := out.Bytes()
		if !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
			t.Fatalf("output does not end with EOI: % x", b[max(0, len(b)-4):])
		}
		var again bytes.Buffer
		if _, err := StripJPEGMetadata(&again, bufio.NewReader(bytes.NewReader(b))); err != nil || !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("stripping the output again: %v, changed=%v", err, !bytes.Equal(again.Bytes(), b))
		}
		for i := 2; i+4 <= len(b); {
			if b[i] != 0xFF {
				t.Fatalf("lost marker sync at %d", i)
			}
			m := b[i+1]
			if m == 0xD9 {
				return
			}
			if m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
				i += 2
				continue
			}
			end := i + 2 + int(b[i+2])<<8 + int(b[i+3])
			if end > len(b) {
				t.Fatalf("segment %x runs past the end", m)
			}
			if kept, ok := jpegKeptSegment(m, b[i+4:end]); !ok || !bytes.Equal(kept, b[i+4:end]) {
				t.Fatalf("segment %x kept that does not draw the image", m)
			}
			if m == 0xDA {
				return
			}
			i = end
		}
	})
}
