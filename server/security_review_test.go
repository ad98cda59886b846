package main

// Regression tests for the findings of the adversarial security review (branch
// security): what the generic security matrix cannot see.

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// pngDeclaring is a well-formed PNG (valid chunk stream and CRCs) whose IHDR
// declares w×h pixels, 1-bit grey, with a token IDAT: a few dozen bytes that a
// viewer would try to allocate w×h×4 bytes for.
func pngDeclaring(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 1, 0, 0, 0, 0) // bit depth 1, greyscale, deflate, no filter, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegDeclaring encodes a small JPEG and rewrites its SOF0 to declare w×h.
func jpegDeclaring(t *testing.T, w, h uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 in encoded JPEG")
	}
	// FF C0, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// webpWithChunks wraps chunks in a RIFF/WEBP container whose length matches.
func webpWithChunks(chunks ...[]byte) []byte {
	data := []byte("WEBP")
	for _, c := range chunks {
		data = append(data, c...)
	}
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(data)))
	return append(out, data...)
}

func webpChunk(fourCC string, data []byte) []byte {
	c := append([]byte(fourCC), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// vp8lDeclaring is the lossless bitstream of webpBytes with its header rewritten
// to declare w×h (14 bits each, stored minus one).
func vp8lDeclaring(w, h uint32) []byte {
	payload := []byte{0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00}
	bits := binary.LittleEndian.Uint32(payload[1:5]) &^ (1<<28 - 1) // keep alpha and version bits
	bits |= (w - 1) | (h-1)<<14
	binary.LittleEndian.PutUint32(payload[1:5], bits)
	return payload
}

// vp8Declaring is the start of a lossy key frame declaring w×h: frame tag,
// start code, 14-bit width and height (no scaling).
func vp8Declaring(w, h uint16) []byte {
	d := []byte{0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(d[6:], w)
	binary.LittleEndian.PutUint16(d[8:], h)
	return d
}

// vp8xCanvas is a VP8X chunk body declaring a w×h canvas (24 bits each, minus one).
func vp8xCanvas(w, h uint32) []byte {
	d := make([]byte, 10)
	d[4], d[5], d[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	d[7], d[8], d[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	return d
}

// A photo declaring absurd dimensions is a decompression bomb for every staff
// page and phone that opens the complaint (the server itself never decodes
// pixels). It is refused as a 400 like any other unacceptable file, whatever
// the format; photos of real sizes still go through.
func TestUploadRefusesDecompressionBombs(t *testing.T) {
	a := newTestApp(t)
	tok, uid := a.resident("bomb")
	before := a.countUploads(uid)

	bombs := map[string][]byte{
		"png 100000x100000":       pngDeclaring(100000, 100000),
		"png 40000x1":             pngDeclaring(40000, 1),
		"jpeg 65000x65000":        jpegDeclaring(t, 65000, 65000),
		"webp VP8X 100000 canvas": webpWithChunks(webpChunk("VP8X", vp8xCanvas(100000, 100000)), webpChunk("VP8L", vp8lDeclaring(1, 1))),
		"webp VP8L 16384x16384":   webpWithChunks(webpChunk("VP8L", vp8lDeclaring(16384, 16384))),
		"webp VP8 16383x16383":    webpWithChunks(webpChunk("VP8 ", vp8Declaring(16383, 16383))),
		"webp small canvas, VP8L 16384x16384 inside": webpWithChunks(webpChunk("VP8X", vp8xCanvas(1, 1)),
			webpChunk("VP8L", vp8lDeclaring(16384, 16384))),
	}
	for name, data := range bombs {
		r := a.upload(tok, "p.img", "image/png", data)
		if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Errorf("%s: %d %s, want 400 invalid_request", name, r.Status, r.Body)
		}
	}
	if n := a.countUploads(uid); n != before {
		t.Errorf("%d bombs stored", n-before)
	}

	fine := map[string][]byte{
		"png 12000x9000":      pngDeclaring(12000, 9000), // a 108 MP phone photo's size
		"jpeg 8x8":            jpegDeclaring(t, 8, 8),
		"webp VP8X 2x3":       webpWithChunks(webpChunk("VP8X", vp8xCanvas(2, 3)), webpChunk("VP8L", vp8lDeclaring(2, 3))),
		"webp VP8 4000x3000":  webpWithChunks(webpChunk("VP8 ", vp8Declaring(4000, 3000))),
		"webp VP8L 4000x3000": webpWithChunks(webpChunk("VP8L", vp8lDeclaring(4000, 3000))),
	}
	for name, data := range fine {
		if r := a.upload(tok, "p.img", "image/png", data); r.Status != http.StatusCreated {
			t.Errorf("%s: %d %s, want 201", name, r.Status, r.Body)
		}
	}
}

// Uploads had no quota: one account could post 5 MiB files in a loop and fill
// the photo disk long before the orphan cleaner (24 h) got to them. Photos not
// attached to a complaint are now capped per user (UPLOAD_MAX_PENDING); past
// the cap the upload is 429 rate_limited with Retry-After, and attaching photos
// to a complaint frees room. Concurrent uploads cannot slip past the cap.
func TestUploadPendingCap(t *testing.T) {
	a := newTestApp(t, map[string]string{"UPLOAD_MAX_PENDING": "3"})
	tok, uid := a.resident("cap")
	var ids []any
	for i := 0; i < 3; i++ {
		ids = append(ids, a.uploadPhoto(tok))
	}
	r := a.upload(tok, "p.png", "image/png", pngBytes(t, 4, 3))
	if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" {
		t.Fatalf("upload past the cap: %d %s, want 429 rate_limited", r.Status, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if n := a.countUploads(uid); n != 3 {
		t.Errorf("%d uploads stored, want 3", n)
	}
	// Another user is not affected.
	other, _ := a.resident("cap-other")
	a.uploadPhoto(other)

	// Attaching two to a complaint leaves room for two more.
	a.fileComplaint(tok, map[string]any{"photo_ids": ids[:2]})
	a.uploadPhoto(tok)
	a.uploadPhoto(tok)
	if r := a.upload(tok, "p.png", "image/png", pngBytes(t, 4, 3)); r.Status != http.StatusTooManyRequests {
		t.Errorf("upload past the cap again: %d %s, want 429", r.Status, r.Body)
	}

	// Ten at once against a cap of three: exactly three are kept.
	racer, rid := a.resident("cap-race")
	photo := pngBytes(t, 4, 3)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.upload(racer, "p.png", "image/png", photo)
		}()
	}
	wg.Wait()
	if n := a.countUploads(rid); n != 3 {
		t.Errorf("concurrent uploads: %d stored, want 3", n)
	}
}
