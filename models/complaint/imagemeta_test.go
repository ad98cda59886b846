package complaint

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"testing/iotest"
)

// --- PNG fixtures ---

// testPNGImage is a w×h image of seeded noise with varying alpha, so the IDAT of
// a large one does not compress below the copy buffer.
func testPNGImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32())})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk is one whole chunk: length, type, data and a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// splitPNG returns the whole chunks after the signature, in order; it fails the
// test on a stream that does not split exactly.
func splitPNG(t testing.TB, b []byte) [][]byte {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		t.Fatalf("no PNG signature: %q", b[:min(len(b), 8)])
	}
	var chunks [][]byte
	for i := len(pngSignature); i < len(b); {
		if i+12 > len(b) {
			t.Fatalf("chunk header at %d runs past the end (%d bytes)", i, len(b))
		}
		end := i + 12 + int(binary.BigEndian.Uint32(b[i:]))
		if end > len(b) {
			t.Fatalf("chunk %q at %d runs past the end", b[i+4:i+8], i)
		}
		chunks = append(chunks, b[i:end])
		i = end
	}
	return chunks
}

func chunkType(c []byte) string { return string(c[4:8]) }

// insertPNGChunks puts extra chunks right after the chunk of type after.
func insertPNGChunks(t testing.TB, src []byte, after string, extra ...[]byte) []byte {
	t.Helper()
	out := []byte(pngSignature)
	found := false
	for _, c := range splitPNG(t, src) {
		out = append(out, c...)
		if chunkType(c) == after {
			found = true
			for _, e := range extra {
				out = append(out, e...)
			}
		}
	}
	if !found {
		t.Fatalf("no %s chunk", after)
	}
	return out
}

func zlibBytes(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngMetadata is one of each chunk a phone or editor writes personal data into.
func pngMetadata(t testing.TB) [][]byte {
	return [][]byte{
		pngChunk("eXIf", []byte("MM\x00\x2a\x00\x00\x00\x08GPSLatitude=22.5431N;GPSLongitude=114.0579E")),
		pngChunk("tEXt", []byte("Author\x00Zhang San, Building 7")),
		pngChunk("zTXt", append([]byte("Raw profile type exif\x00\x00"), zlibBytes(t, "GPSLatitude 22.5431")...)),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>GPSLatitude</x:xmpmeta>")),
		pngChunk("tIME", []byte{0x07, 0xE8, 5, 1, 12, 30, 0}),
		// Private and unknown ancillary chunks: a vendor's, or a format's new one.
		pngChunk("prVt", []byte("GPSLatitude=22.5431N in a vendor chunk")),
		pngChunk("caBX", []byte("jumb c2pa Zhang San's camera")),
	}
}

// pngRendering are ancillary chunks that change how the image is drawn or
// printed and must be kept.
var pngRendering = [][]byte{
	pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}),
	pngChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1}),
}

func stripPNG(src []byte) ([]byte, int64, error) {
	var out bytes.Buffer
	n, err := StripPNGMetadata(&out, bufio.NewReader(bytes.NewReader(src)))
	return out.Bytes(), n, err
}

func TestStripPNGMetadata(t *testing.T) {
	// 120×100 noise: an IDAT of ~48 KB, longer than the 32 KiB copy buffer.
	img := testPNGImage(120, 100)
	plain := encodePNG(t, img)
	meta := pngMetadata(t)
	kept := insertPNGChunks(t, plain, "IHDR", pngRendering...)
	// Metadata both before the image data and after it, as some tools write it.
	src := insertPNGChunks(t, insertPNGChunks(t, kept, "IHDR", meta...), "IDAT", meta[1], meta[3])
	if !bytes.Contains(src, []byte("GPSLatitude")) || !bytes.Contains(src, []byte("Zhang San")) {
		t.Fatal("fixture carries no personal data")
	}

	got, n, err := stripPNG(src)
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != len(got) {
		t.Fatalf("returned %d, wrote %d bytes", n, len(got))
	}
	// Exactly the source without the metadata chunks: IHDR, IDAT, IEND and the
	// rendering chunks byte for byte, in their order.
	if !bytes.Equal(got, kept) {
		var types []string
		for _, c := range splitPNG(t, got) {
			types = append(types, chunkType(c))
		}
		t.Fatalf("stripped PNG has chunks %v (%d bytes), want the %d bytes of the source without metadata", types, len(got), len(kept))
	}
	for _, c := range splitPNG(t, got) {
		if !pngDrawingChunks[chunkType(c)] {
			t.Fatalf("%s chunk kept", chunkType(c))
		}
	}
	for _, secret := range []string{"GPS", "Zhang", "xmp", "exif"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Fatalf("stripped PNG still contains %q", secret)
		}
	}
	dec, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("stripped PNG does not decode: %v", err)
	}
	if nrgba, ok := dec.(*image.NRGBA); !ok || nrgba.Rect != img.Rect || !bytes.Equal(nrgba.Pix, img.Pix) {
		t.Fatalf("stripped PNG decodes to other pixels (%T %v)", dec, dec.Bounds())
	}

	// A PNG with nothing to strip comes out unchanged, and so does a stripped one.
	for name, in := range map[string][]byte{"plain": plain, "stripped": got} {
		if again, _, err := stripPNG(in); err != nil || !bytes.Equal(again, in) {
			t.Errorf("%s: strip changed it (err %v)", name, err)
		}
	}
}

func TestStripPNGMetadataRefuses(t *testing.T) {
	small := encodePNG(t, testPNGImage(3, 2))
	src := insertPNGChunks(t, small, "IHDR", pngMetadata(t)...)
	chunks := splitPNG(t, src)
	ihdr, iend := chunks[0], chunks[len(chunks)-1]
	withoutIEND := src[:len(src)-len(iend)]
	join := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	flip := func(b []byte, i int) []byte {
		b = slices.Clone(b)
		b[i] ^= 0x01
		return b
	}
	idatAt := bytes.Index(src, []byte("IDAT"))
	huge := binary.BigEndian.AppendUint32(nil, 1<<31)
	huge = append(huge, "prVt"...)

	cases := map[string][]byte{
		"empty":                 nil,
		"signature only":        []byte(pngSignature),
		"bad signature":         flip(src, 1),
		"JPEG":                  testJPEG(t),
		"IDAT CRC":              flip(src, idatAt+4), // first data byte
		"IHDR CRC":              flip(src, len(pngSignature)+12+13-1),
		"IEND CRC":              flip(src, len(src)-1),
		"data after IEND":       append(slices.Clone(src), 0),
		"second PNG after IEND": join(src, small),
		"no IEND":               withoutIEND,
		"IHDR not first":        join([]byte(pngSignature), pngChunk("tEXt", []byte("a\x00b")), src[len(pngSignature):]),
		"no IHDR":               join([]byte(pngSignature), src[len(pngSignature)+len(ihdr):]),
		"second IHDR":           join(withoutIEND, ihdr, iend),
		"length over 2^31-1":    join(withoutIEND, huge, iend),
		"dropped chunk cut":     join(withoutIEND, pngChunk("tEXt", []byte("a\x00b"))[:10]),
		"unknown critical":      join(withoutIEND, pngChunk("ZZZZ", []byte("??")), iend),
	}
	// Every proper prefix is a truncated PNG.
	for i := range len(src) {
		cases["truncated at "+strconv.Itoa(i)] = src[:i]
	}
	for name, in := range cases {
		if _, _, err := stripPNG(in); !errors.Is(err, errBadPNG) {
			t.Errorf("%s: err = %v, want errBadPNG", name, err)
		}
	}

	// A failing reader is a read error, not the client's malformed PNG.
	boom := errors.New("disk on fire")
	_, err := StripPNGMetadata(&bytes.Buffer{}, bufio.NewReader(io.MultiReader(bytes.NewReader(src[:40]), iotest.ErrReader(boom))))
	if !errors.Is(err, boom) || errors.Is(err, errBadPNG) {
		t.Errorf("read error: err = %v, want it wrapped and not errBadPNG", err)
	}
}

// FuzzStripPNGMetadata: arbitrary bytes never panic; anything refused is
// errBadPNG with nothing else possible from an in-memory reader; anything
// accepted is a chunk stream without metadata chunks, and stripping it again
// changes nothing.
func FuzzStripPNGMetadata(f *testing.F) {
	small := encodePNG(f, testPNGImage(3, 2))
	src := insertPNGChunks(f, small, "IHDR", append(pngMetadata(f), pngRendering...)...)
	f.Add(small)
	f.Add(src)
	f.Add(src[:len(src)-5])             // truncated IEND
	f.Add(append(slices.Clone(src), 0)) // trailing data
	bad := slices.Clone(src)
	bad[len(pngSignature)+8] ^= 1 // IHDR data, CRC now wrong
	f.Add(bad)
	f.Add([]byte(pngSignature))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStripPNG(t, data)
		// Mutations nearly always break a CRC; with the CRCs put right the
		// fuzzer also reaches the chunk walk past the first changed chunk.
		checkStripPNG(t, fixPNGCRCs(data))
	})
}

// fixPNGCRCs returns data with the CRC of every chunk that fits rewritten to
// match, as far as the chunk lengths lead.
func fixPNGCRCs(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte(pngSignature)) {
		return data
	}
	data = slices.Clone(data)
	for i := len(pngSignature); i+12 <= len(data); {
		end := i + 8 + int(binary.BigEndian.Uint32(data[i:]))
		if end < i || end+4 > len(data) {
			break
		}
		binary.BigEndian.PutUint32(data[end:], crc32.ChecksumIEEE(data[i+4:end]))
		i = end + 4
	}
	return data
}

func checkStripPNG(t *testing.T, data []byte) {
	t.Helper()
	got, n, err := stripPNG(data)
	if err != nil {
		if !errors.Is(err, errBadPNG) {
			t.Fatalf("err = %v, want errBadPNG", err)
		}
		return
	}
	if int(n) != len(got) {
		t.Fatalf("returned %d, wrote %d", n, len(got))
	}
	chunks := splitPNG(t, got)
	if len(chunks) < 2 || chunkType(chunks[0]) != "IHDR" || chunkType(chunks[len(chunks)-1]) != "IEND" {
		t.Fatalf("accepted output does not run IHDR..IEND")
	}
	for _, c := range chunks {
		if !pngDrawingChunks[chunkType(c)] {
			t.Fatalf("%s chunk kept", chunkType(c))
		}
	}
	again, _, err := stripPNG(got)
	if err != nil || !bytes.Equal(again, got) {
		t.Fatalf("stripping again: err %v, changed %v", err, !bytes.Equal(again, got))
	}
}

// --- WebP fixtures ---

// riffChunk is one WebP chunk: FourCC, little-endian size, data, pad byte when
// the size is odd.
func riffChunk(fourCC string, data []byte) []byte {
	c := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// webpFile wraps chunks in a RIFF header whose length matches.
func webpFile(chunks ...[]byte) []byte {
	body := slices.Concat(chunks...)
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	out = append(out, "WEBP"...)
	return append(out, body...)
}

// vp8l is the bitstream of a 1×1 lossless WebP with alpha.
var vp8l = riffChunk("VP8L", []byte{0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00})

// vp8x is the extended-format header of a 1×1 canvas with the given flags.
func vp8x(flags byte) []byte {
	return riffChunk("VP8X", []byte{flags, 0, 0, 0, 0, 0, 0, 0, 0, 0})
}

const (
	vp8xFlagICC   = 0x20
	vp8xFlagAlpha = 0x10
)

var (
	// Odd sizes, so a pad byte follows each.
	webpICCP    = riffChunk("ICCP", []byte("icc"))
	webpEXIF    = riffChunk("EXIF", []byte("Exif\x00\x00GPSLatitude=22.5431N;GPSLongitude=114.0579E"))
	webpXMP     = riffChunk("XMP ", []byte("<x:xmpmeta>GPSLatitude</x:xmpmeta>"))
	webpUnknown = riffChunk("Zzzz", []byte("odd"))
)

func stripWebP(src []byte) ([]byte, int64, error) {
	var out bytes.Buffer
	n, err := StripWebPMetadata(&out, bytes.NewReader(src), int64(len(src)))
	return out.Bytes(), n, err
}

func TestStripWebPMetadata(t *testing.T) {
	if len(webpICCP)%2 != 0 || len(webpEXIF)%2 != 0 || len(webpUnknown) != 12 {
		t.Fatal("fixtures are not padded")
	}
	simple := webpFile(vp8l)
	cases := []struct {
		name      string
		src, want []byte
	}{
		{"extended",
			webpFile(vp8x(vp8xFlagICC|vp8xFlagAlpha|vp8xFlagEXIF|vp8xFlagXMP), webpICCP, vp8l, webpEXIF, webpXMP, webpUnknown),
			webpFile(vp8x(vp8xFlagICC|vp8xFlagAlpha), webpICCP, vp8l)}, // unknown chunks go too
		{"metadata in the middle",
			webpFile(vp8x(vp8xFlagXMP|vp8xFlagEXIF), webpXMP, webpICCP, webpEXIF, vp8l),
			webpFile(vp8x(0), webpICCP, vp8l)},
		{"flags without the chunks", webpFile(vp8x(0xFF), vp8l), webpFile(vp8x(0xFF&^(vp8xFlagEXIF|vp8xFlagXMP)), vp8l)},
		{"simple with EXIF", webpFile(vp8l, webpEXIF), simple},
		{"simple", simple, simple},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := stripWebP(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if int(n) != len(got) || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes (returned %d)\n%q\nwant %d bytes\n%q", len(got), n, got, len(tc.want), tc.want)
			}
			if l := binary.LittleEndian.Uint32(got[4:8]); int(l) != len(got)-8 {
				t.Fatalf("RIFF length %d, file %d bytes", l, len(got))
			}
			if bytes.Contains(got, []byte("GPS")) {
				t.Fatal("stripped WebP still carries the location")
			}
			if again, _, err := stripWebP(got); err != nil || !bytes.Equal(again, got) {
				t.Fatalf("stripping again: err %v, changed %v", err, !bytes.Equal(again, got))
			}
		})
	}
}

func TestStripWebPMetadataRefuses(t *testing.T) {
	src := webpFile(vp8x(vp8xFlagEXIF), vp8l, webpEXIF)
	setLen := func(b []byte, at int, n uint32) []byte {
		b = slices.Clone(b)
		binary.LittleEndian.PutUint32(b[at:], n)
		return b
	}
	// The last chunk's pad byte missing, the RIFF length matching the file.
	noPad := webpFile(vp8l, webpUnknown)
	noPad = setLen(noPad[:len(noPad)-1], 4, uint32(len(noPad)-1-8))
	cases := map[string][]byte{
		"empty":                nil,
		"header only":          []byte("RIFF\x04\x00\x00\x00WEBP"),
		"RIFX":                 slices.Concat([]byte("RIFX"), src[4:]),
		"not WEBP":             slices.Concat(src[:8], []byte("AVI "), src[12:]),
		"RIFF length short":    setLen(src, 4, uint32(len(src)-9)),
		"RIFF length long":     setLen(src, 4, uint32(len(src)-7)),
		"trailing data":        append(slices.Clone(src), 0, 0),
		"chunk past the end":   setLen(src, 12+len(vp8x(0))+4, 0xFFFFFFF0),
		"missing pad byte":     noPad,
		"stray bytes at end":   webpFile(vp8l, []byte("EXIF")),
		"first chunk is EXIF":  webpFile(webpEXIF, vp8l),
		"VP8X too short":       webpFile(riffChunk("VP8X", []byte{vp8xFlagEXIF}), vp8l),
		"JPEG":                 testJPEG(t),
		"PNG":                  encodePNG(t, testPNGImage(1, 1)),
		"RIFF length overflow": setLen(src, 4, 0xFFFFFFFF),
	}
	for i := range len(src) {
		cases["truncated at "+strconv.Itoa(i)] = src[:i]
	}
	for name, in := range cases {
		got, _, err := stripWebP(in)
		if !errors.Is(err, errBadWebP) {
			t.Errorf("%s: err = %v, want errBadWebP", name, err)
		}
		if len(got) != 0 {
			t.Errorf("%s: wrote %d bytes before refusing", name, len(got))
		}
	}
}

// FuzzStripWebPMetadata: arbitrary bytes never panic; anything refused is
// errBadWebP with nothing written; anything accepted has a matching RIFF length,
// no EXIF or XMP chunk, no VP8X flag announcing them, and stripping it again
// changes nothing.
func FuzzStripWebPMetadata(f *testing.F) {
	f.Add(webpFile(vp8l))
	f.Add(webpFile(vp8x(0x3C), webpICCP, vp8l, webpEXIF, webpXMP, webpUnknown))
	f.Add(webpFile(vp8l, webpEXIF)[:30])
	f.Add(append(webpFile(vp8l), 0))
	f.Add([]byte("RIFF\x04\x00\x00\x00WEBP"))
	f.Add(webpFile(vp8x(vp8xFlagAnim|vp8xFlagEXIF), riffChunk("ANIM", make([]byte, 6)), anmf(vp8l, webpEXIF, webpUnknown), anmf(webpXMP, vp8l)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, n, err := stripWebP(data)
		if err != nil {
			if !errors.Is(err, errBadWebP) || len(got) != 0 {
				t.Fatalf("err = %v after %d bytes, want errBadWebP before any", err, len(got))
			}
			return
		}
		if int(n) != len(got) || len(got) < 20 || int(binary.LittleEndian.Uint32(got[4:8])) != len(got)-8 {
			t.Fatalf("returned %d, wrote %d, RIFF length %d", n, len(got), binary.LittleEndian.Uint32(got[4:8]))
		}
		if string(got[12:16]) == "VP8X" && got[20]&(vp8xFlagEXIF|vp8xFlagXMP) != 0 {
			t.Fatalf("VP8X flags %#x still announce metadata", got[20])
		}
		for i := 12; i < len(got); {
			if i+8 > len(got) {
				t.Fatalf("chunk header at %d runs past the end", i)
			}
			fourCC := string(got[i : i+4])
			if !webpDrawingChunks[fourCC] {
				t.Fatalf("%q chunk kept", fourCC)
			}
			size := int(binary.LittleEndian.Uint32(got[i+4:]))
			if fourCC == "ANMF" {
				for j := i + 8 + anmfHeader; j < i+8+size; {
					sub := string(got[j : j+4])
					if !webpFrameChunks[sub] {
						t.Fatalf("%q chunk kept inside a frame", sub)
					}
					n := int(binary.LittleEndian.Uint32(got[j+4:]))
					j += 8 + n + n%2
				}
			}
			i += 8 + size + size%2
		}
		again, _, err := stripWebP(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("stripping again: err %v, changed %v", err, !bytes.Equal(again, got))
		}
	})
}
