package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"
)

// multipartBody builds a multipart/form-data body with one part named field.
func multipartBody(t *testing.T, field, filename, partType string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	if partType != "" {
		h.Set("Content-Type", partType)
	}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// upload posts data as the file field and returns the response.
func (a *testApp) upload(token, filename, partType string, data []byte) response {
	a.t.Helper()
	body, ctype := multipartBody(a.t, "file", filename, partType, data)
	return a.do("POST", "/api/v1/uploads", token, body, "Content-Type", ctype)
}

// uploadPhoto uploads a small PNG and returns its id.
func (a *testApp) uploadPhoto(token string) int64 {
	a.t.Helper()
	r := a.upload(token, "p.png", "image/png", pngBytes(a.t, 4, 3))
	if r.Status != http.StatusCreated {
		a.t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(a.t)["id"].(float64))
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jpegWithEXIF encodes a JPEG and inserts an APP1 Exif segment holding a GPS
// marker right after SOI, the way phone cameras do.
func jpegWithEXIF(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	payload := append([]byte("Exif\x00\x00"), []byte("GPSLatitude=22.5431N;GPSLongitude=114.0579E")...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, raw[:2]...)
	out = append(out, seg...)
	return append(out, raw[2:]...)
}

// pngChunk is one PNG chunk with a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngWithChunks inserts chunks right after the IHDR of an encoded PNG (8-byte
// signature, then IHDR of 13 data bytes: 33 bytes), where phones and editors put
// their eXIf and text chunks.
func pngWithChunks(src []byte, chunks ...[]byte) []byte {
	out := append([]byte{}, src[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, src[33:]...)
}

func webpBytes() []byte {
	payload := []byte{0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00}
	chunk := append([]byte("VP8L"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(chunk[4:], uint32(len(payload)))
	chunk = append(chunk, payload...)
	data := append([]byte("WEBP"), chunk...)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(data)))
	return append(out, data...)
}

// dirFiles lists the files in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func (a *testApp) countUploads(userID int64) int {
	a.t.Helper()
	var n int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM uploads WHERE user_id = ?`, userID).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func TestUploadServeOwnerStaff(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, map[string]string{"UPLOAD_DIR": dir})
	alice, _ := a.resident("alice")
	bob, _ := a.resident("bob")
	staff, _ := a.staff("clerk")

	data := pngBytes(t, 5, 5)
	// The client claims JPEG by name and header; the bytes say PNG and win.
	r := a.upload(alice, "photo.jpg", "image/jpeg", data)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var up struct {
		ID          int64  `json:"id"`
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
	}
	r.Decode(t, &up)
	if up.ContentType != "image/png" || up.Size != int64(len(data)) || up.URL != fmt.Sprintf("/api/v1/uploads/%d", up.ID) {
		t.Fatalf("upload = %+v", up)
	}
	files := dirFiles(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], ".png") || strings.Contains(files[0], "photo") || len(files[0]) != 36 {
		t.Fatalf("stored files = %v, want one random .png name", files)
	}

	got := a.do("GET", up.URL, alice, nil)
	if got.Status != http.StatusOK || !bytes.Equal(got.Body, data) || got.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("owner GET: %d %q", got.Status, got.Header.Get("Content-Type"))
	}
	// Staff see it once it is part of a work order, not as a draft.
	if got := a.do("GET", up.URL, staff, nil); got.Status != http.StatusNotFound {
		t.Fatalf("staff GET of a draft: %d", got.Status)
	}
	a.fileComplaint(alice, map[string]any{"photo_ids": []int64{up.ID}})
	if got := a.do("GET", up.URL, staff, nil); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
		t.Fatalf("staff GET: %d", got.Status)
	}
	if got := a.do("GET", up.URL, bob, nil); got.Status != http.StatusNotFound || got.ErrorCode() != "not_found" {
		t.Fatalf("other resident GET: %d %s", got.Status, got.Body)
	}
	if got := a.do("GET", "/api/v1/uploads/999999999", alice, nil); got.Status != http.StatusNotFound {
		t.Fatalf("missing upload: %d", got.Status)
	}
	if got := a.do("GET", up.URL, "", nil); got.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous GET: %d", got.Status)
	}
	body, ctype := multipartBody(t, "file", "p.png", "image/png", data)
	if r := a.do("POST", "/api/v1/uploads", "", body, "Content-Type", ctype); r.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous upload: %d", r.Status)
	}

	// WebP is accepted by content too.
	if r := a.upload(alice, "x.bin", "application/octet-stream", webpBytes()); r.Status != http.StatusCreated || r.JSON(t)["content_type"] != "image/webp" {
		t.Fatalf("webp: %d %s", r.Status, r.Body)
	}
}

func TestUploadRefusals(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, map[string]string{"UPLOAD_DIR": dir})
	alice, aliceID := a.resident("alice")

	jpegMagicGarbage := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("not really a jpeg "), 50)...)
	pngMagicGarbage := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
	pngBadCRC := pngBytes(t, 2, 2)
	pngBadCRC[len(pngBadCRC)-1] ^= 1 // IEND's CRC
	badWebP := webpBytes()
	binary.LittleEndian.PutUint32(badWebP[4:], 9999)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	cases := []struct {
		name, filename, partType string
		data                     []byte
	}{
		{"text named jpg", "evil.jpg", "image/jpeg", []byte("<script>alert(1)</script> definitely an image")},
		{"html named png", "x.png", "image/png", []byte("<html><body>hi</body></html>")},
		{"jpeg magic then garbage", "x.jpg", "image/jpeg", jpegMagicGarbage},
		{"png magic then garbage", "x.png", "image/png", pngMagicGarbage},
		{"png with data after IEND", "x.png", "image/png", append(pngBytes(t, 2, 2), 0)},
		{"png with a bad CRC", "x.png", "image/png", pngBadCRC},
		{"webp with wrong length", "x.webp", "image/webp", badWebP},
		{"gif", "x.gif", "image/gif", gif},
		{"empty", "x.png", "image/png", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.upload(alice, tc.filename, tc.partType, tc.data)
			if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
				t.Fatalf("got %d %s, want 400", r.Status, r.Body)
			}
		})
	}
	// No file part, and not multipart at all.
	body, ctype := multipartBody(t, "other", "x.png", "image/png", pngBytes(t, 2, 2))
	if r := a.do("POST", "/api/v1/uploads", alice, body, "Content-Type", ctype); r.Status != http.StatusBadRequest {
		t.Fatalf("no file part: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/uploads", alice, map[string]string{"file": "x"}); r.Status != http.StatusBadRequest {
		t.Fatalf("json body: %d %s", r.Status, r.Body)
	}
	// Truncated multipart: the closing boundary never comes.
	body, ctype = multipartBody(t, "file", "x.png", "image/png", pngBytes(t, 2, 2))
	if r := a.do("POST", "/api/v1/uploads", alice, body[:len(body)-30], "Content-Type", ctype); r.Status != http.StatusBadRequest {
		t.Fatalf("truncated multipart: %d %s", r.Status, r.Body)
	}

	// Oversize with a declared Content-Length: refused before reading.
	big := append(pngBytes(t, 2, 2), bytes.Repeat([]byte{0}, 6<<20)...)
	if r := a.upload(alice, "big.png", "image/png", big); r.Status != http.StatusRequestEntityTooLarge || r.ErrorCode() != "payload_too_large" {
		t.Fatalf("oversize: %d %s", r.Status, r.Body)
	}
	// Just over 5 MiB of photo inside a body under the request cap: streamed and
	// cut off at the photo limit.
	over := append(pngBytes(t, 2, 2), bytes.Repeat([]byte{0}, 5<<20)...)
	if r := a.upload(alice, "over.png", "image/png", over); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("photo just over 5 MiB: %d %s", r.Status, r.Body)
	}
	// Oversize streamed without Content-Length (chunked): cut off while streaming.
	body, ctype = multipartBody(t, "file", "big.png", "image/png", big)
	pr, pw := io.Pipe()
	go func() {
		_, err := pw.Write(body)
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", a.URL+"/api/v1/uploads", pr)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+alice)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("chunked upload: %v", err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pr.Close()
	if req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("request was not chunked")
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize: %d %s", res.StatusCode, out)
	}
	checkSpec(t, req, response{Status: res.StatusCode, Header: res.Header, Body: out})

	// Exactly 5 MiB is allowed: a small PNG with a comment filling the rest, which
	// is stripped before the file is kept.
	small := pngBytes(t, 2, 2)
	comment := append([]byte("Comment\x00"), bytes.Repeat([]byte("x"), 5<<20-len(small)-12-8)...)
	exact := pngWithChunks(small, pngChunk("tEXt", comment))
	if len(exact) != 5<<20 {
		t.Fatalf("fixture is %d bytes", len(exact))
	}
	if r := a.upload(alice, "exact.png", "image/png", exact); r.Status != http.StatusCreated || int(r.JSON(t)["size"].(float64)) != len(small) {
		t.Fatalf("exactly 5 MiB: %d %s", r.Status, r.Body)
	}
	if n := a.countUploads(aliceID); n != 1 {
		t.Fatalf("uploads stored = %d, want only the 5 MiB one", n)
	}
	if files := dirFiles(t, dir); len(files) != 1 {
		t.Fatalf("files left in upload dir = %v, want only the accepted one", files)
	}
}

func TestUploadStripsJPEGLocation(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, map[string]string{"UPLOAD_DIR": dir})
	alice, _ := a.resident("alice")
	// A phone photo: EXIF with GPS, and a second picture appended after EOI
	// (MPF) with its own EXIF.
	src := append(jpegWithEXIF(t), jpegWithEXIF(t)...)
	if !bytes.Contains(src, []byte("GPSLatitude")) {
		t.Fatal("fixture has no GPS data")
	}
	r := a.upload(alice, "IMG_0001.JPG", "image/jpeg", src)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	got := a.do("GET", m["url"].(string), alice, nil)
	if got.Status != http.StatusOK {
		t.Fatalf("get: %d", got.Status)
	}
	if bytes.Contains(got.Body, []byte("GPS")) || bytes.Contains(got.Body, []byte("Exif")) {
		t.Fatal("stored JPEG still carries EXIF location")
	}
	if int(m["size"].(float64)) != len(got.Body) || len(got.Body) >= len(src) {
		t.Fatalf("size %v, served %d bytes, source %d", m["size"], len(got.Body), len(src))
	}
	img, err := jpeg.Decode(bytes.NewReader(got.Body))
	if err != nil || img.Bounds().Dx() != 16 {
		t.Fatalf("stripped JPEG does not decode: %v", err)
	}
}

// TestUploadStripsPNGAndWebPMetadata: PNG eXIf/text/tIME chunks and WebP
// EXIF/XMP chunks are gone from the stored file, which still decodes.
func TestUploadStripsPNGAndWebPMetadata(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, map[string]string{"UPLOAD_DIR": dir})
	alice, _ := a.resident("alice")
	const gps = "GPSLatitude=22.5431N;GPSLongitude=114.0579E"

	// stored uploads src and returns the bytes served back, after checking the
	// location is gone and the recorded size is that of the stored file.
	stored := func(t *testing.T, name string, src []byte) []byte {
		t.Helper()
		if !bytes.Contains(src, []byte(gps)) {
			t.Fatal("fixture has no GPS data")
		}
		r := a.upload(alice, name, "", src)
		if r.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		got := a.do("GET", m["url"].(string), alice, nil)
		if got.Status != http.StatusOK {
			t.Fatalf("get: %d", got.Status)
		}
		if bytes.Contains(got.Body, []byte("GPS")) {
			t.Fatal("stored file still carries the location")
		}
		if int(m["size"].(float64)) != len(got.Body) || len(got.Body) >= len(src) {
			t.Fatalf("size %v, served %d bytes, source %d", m["size"], len(got.Body), len(src))
		}
		return got.Body
	}

	t.Run("png", func(t *testing.T) {
		plain := pngBytes(t, 6, 4)
		src := pngWithChunks(plain,
			pngChunk("eXIf", []byte("MM\x00\x2a\x00\x00\x00\x08"+gps)),
			pngChunk("tEXt", []byte("Author\x00Zhang San, Building 7")),
			pngChunk("tIME", []byte{0x07, 0xE8, 5, 1, 12, 30, 0}))
		got := stored(t, "IMG_0002.PNG", src)
		for _, s := range []string{"eXIf", "tEXt", "tIME", "Zhang"} {
			if bytes.Contains(got, []byte(s)) {
				t.Fatalf("stored PNG still contains %q", s)
			}
		}
		// The encoder wrote no metadata, so what is left is exactly its output.
		if !bytes.Equal(got, plain) {
			t.Fatalf("stored PNG differs from the source without its metadata")
		}
		img, err := png.Decode(bytes.NewReader(got))
		if err != nil || img.Bounds().Dx() != 6 || color.RGBAModel.Convert(img.At(1, 1)) != (color.RGBA{200, 10, 10, 255}) {
			t.Fatalf("stored PNG does not decode to the picture: %v", err)
		}
	})

	t.Run("webp", func(t *testing.T) {
		plain := webpBytes() // RIFF header, then the VP8L chunk
		// Extended header of a 1×1 canvas announcing EXIF (flag 0x08).
		vp8x := []byte("VP8X\x0a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		exif := append([]byte("EXIF\x00\x00\x00\x00"), "Exif\x00\x00"+gps...)
		binary.LittleEndian.PutUint32(exif[4:], uint32(len(exif)-8))
		if len(exif)%2 == 1 {
			exif = append(exif, 0)
		}
		body := append(append(append([]byte("WEBP"), vp8x...), plain[12:]...), exif...)
		src := append([]byte("RIFF\x00\x00\x00\x00"), body...)
		binary.LittleEndian.PutUint32(src[4:], uint32(len(body)))
		got := stored(t, "IMG_0003.webp", src)
		want := append([]byte("RIFF\x00\x00\x00\x00WEBP"), vp8x...)
		want[20] = 0 // EXIF flag cleared with the chunk
		want = append(want, plain[12:]...)
		binary.LittleEndian.PutUint32(want[4:], uint32(len(want)-8))
		if !bytes.Equal(got, want) {
			t.Fatalf("stored WebP = %q, want %q", got, want)
		}
	})
}

func TestUploadOrphansCleaned(t *testing.T) {
	dir := t.TempDir()
	a := newTestApp(t, map[string]string{"UPLOAD_DIR": dir})
	alice, _ := a.resident("alice")
	orphan := a.uploadPhoto(alice)
	fresh := a.uploadPhoto(alice)
	attached := a.uploadPhoto(alice)
	a.fileComplaint(alice, map[string]any{"photo_ids": []int64{attached}})
	old := time.Now().UTC().Add(-25 * time.Hour)
	if _, err := a.app.db.Exec(`UPDATE uploads SET created_at = ? WHERE id IN (?, ?)`, old, orphan, attached); err != nil {
		t.Fatal(err)
	}
	if len(dirFiles(t, dir)) != 3 {
		t.Fatalf("files before = %v", dirFiles(t, dir))
	}
	// Two instances cleaning at once remove the orphan once.
	done := make(chan int, 2)
	for range 2 {
		go func() {
			n, err := a.app.uploads.CleanOrphans(context.Background(), 100)
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
	}
	if n := <-done + <-done; n < 1 {
		t.Fatalf("removed %d", n)
	}
	var ids []int64
	rows, err := a.app.db.Query(`SELECT id FROM uploads WHERE id IN (?, ?, ?) ORDER BY id`, orphan, fresh, attached)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 || ids[0] != fresh || ids[1] != attached {
		t.Fatalf("uploads left = %v, want fresh %d and attached %d", ids, fresh, attached)
	}
	if files := dirFiles(t, dir); len(files) != 2 {
		t.Fatalf("files left = %v", files)
	}
	if r := a.do("GET", fmt.Sprintf("/api/v1/uploads/%d", orphan), alice, nil); r.Status != http.StatusNotFound {
		t.Fatalf("cleaned upload still served: %d", r.Status)
	}
}
