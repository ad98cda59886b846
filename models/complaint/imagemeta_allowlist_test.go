package complaint

import (
	"bufio"
	"bytes"
	"errors"
	"image/jpeg"
	"slices"
	"testing"
)

// TestStripJPEGKeepsOnlyWhatDraws: vendor segments APP3–APP15 (makernotes,
// IPTC, JFXX thumbnails, a resident's name in a camera's APP segment) and the
// JFIF thumbnail go; the JFIF header, ICC profile and Adobe colour transform stay.
func TestStripJPEGKeepsOnlyWhatDraws(t *testing.T) {
	plain := testJPEG(t)
	jfif := "JFIF\x00\x01\x02\x00\x00\x01\x00\x01"
	icc := "ICC_PROFILE\x00\x01\x01profile-bytes"
	adobe := "Adobe\x00\x64\x00\x00\x00\x00\x00"
	src := plain
	for m := byte(0xE3); m <= 0xEF; m++ {
		src = withSegment(src, m, "vendor GPSLatitude=22.54N owner Zhang San")
	}
	src = withSegment(src, 0xEE, adobe)
	src = withSegment(src, 0xE2, icc)
	src = withSegment(src, 0xE0, "JFXX\x00\x10THUMB-of-the-uncropped-photo")
	src = withSegment(src, 0xE0, jfif+"\x02\x01THUMB!") // a 2×1 RGB thumbnail
	var out bytes.Buffer
	if _, err := StripJPEGMetadata(&out, bufio.NewReader(bytes.NewReader(src))); err != nil {
		t.Fatal(err)
	}
	want := withSegment(withSegment(withSegment(plain, 0xEE, adobe), 0xE2, icc), 0xE0, jfif+"\x00\x00")
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("stripped JPEG (%d bytes) is not the image with JFIF (no thumbnail), ICC and Adobe (%d bytes)", out.Len(), len(want))
	}
	for _, leak := range []string{"GPS", "Zhang", "THUMB"} {
		if bytes.Contains(out.Bytes(), []byte(leak)) {
			t.Errorf("stripped JPEG still holds %q", leak)
		}
	}
	if _, err := jpeg.Decode(bytes.NewReader(out.Bytes())); err != nil {
		t.Errorf("stripped JPEG does not decode: %v", err)
	}
}

// anmf is an animation frame: the 16-byte frame header (offset, 1×1, duration,
// flags) and its chunks.
func anmf(chunks ...[]byte) []byte {
	head := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0}
	return riffChunk("ANMF", slices.Concat(append([][]byte{head}, chunks...)...))
}

const vp8xFlagAnim = 0x02

// TestStripWebPAnimationFrames: EXIF, XMP and unknown chunks nested inside ANMF
// frames go, the frame lengths and the RIFF length shrink to match, and every
// drawing chunk stays byte for byte.
func TestStripWebPAnimationFrames(t *testing.T) {
	anim := riffChunk("ANIM", []byte{0, 0, 0, 0, 0, 0})
	alph := riffChunk("ALPH", []byte{0, 1, 2})
	src := webpFile(vp8x(vp8xFlagAnim|vp8xFlagEXIF|vp8xFlagAlpha), anim,
		anmf(alph, vp8l, webpEXIF, webpUnknown), anmf(webpXMP, vp8l), anmf(vp8l), webpEXIF, webpUnknown)
	want := webpFile(vp8x(vp8xFlagAnim|vp8xFlagAlpha), anim, anmf(alph, vp8l), anmf(vp8l), anmf(vp8l))
	got, n, err := stripWebP(src)
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != len(got) || !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (returned %d)\n%q\nwant %d bytes\n%q", len(got), n, got, len(want), want)
	}
	if bytes.Contains(got, []byte("GPS")) || bytes.Contains(got, []byte("xmpmeta")) {
		t.Fatal("stripped animation still carries metadata")
	}
	for name, bad := range map[string][]byte{
		"frame header cut":         webpFile(vp8x(vp8xFlagAnim), anim, riffChunk("ANMF", make([]byte, 10))),
		"frame chunk past frame":   webpFile(vp8x(vp8xFlagAnim), anim, riffChunk("ANMF", append(make([]byte, 16), "VP8L\xff\x00\x00\x00"...))),
		"frame chunk header short": webpFile(vp8x(vp8xFlagAnim), anim, riffChunk("ANMF", append(make([]byte, 16), "VP8L"...))),
	} {
		if out, _, err := stripWebP(bad); !errors.Is(err, errBadWebP) || len(out) != 0 {
			t.Errorf("%s: err %v after %d bytes, want errBadWebP before any", name, err, len(out))
		}
	}
}
