package complaint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Photos can carry personal data besides the picture: the GPS position of the
// place they were taken (a resident's home), the camera owner's name, the time,
// a thumbnail of the uncropped original. Phones and editors write it into EXIF,
// XMP and IPTC, but also into vendor segments (JPEG APP3–APP15), private PNG
// chunks and chunks nested in WebP animation frames, and new places keep
// appearing. So the strippers keep an allowlist, not a blocklist: only what a
// decoder needs to draw the image (its data, tables, colour profile, transparency
// and animation) is copied; everything else, known or not, is dropped.

var (
	errBadPNG  = errors.New("malformed png")
	errBadWebP = errors.New("malformed webp")
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngDrawingChunks are the PNG chunks needed to draw the image as its author
// meant it: the critical ones, transparency, colour (gamma, chromaticities, sRGB,
// ICC, significant bits, cICP and HDR metadata), pixel aspect, the background
// colour, and the APNG animation chunks. Text (tEXt, zTXt, iTXt: author, comment,
// XMP), eXIf, tIME, histograms, private and unknown ancillary chunks are dropped.
var pngDrawingChunks = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true,
	"cICP": true, "mDCV": true, "cLLI": true, "pHYs": true, "bKGD": true,
	"acTL": true, "fcTL": true, "fdAT": true,
}

// pngCritical reports a chunk type whose first letter is upper case: a decoder
// that does not know it cannot draw the image, so an unknown one is refused
// rather than dropped.
func pngCritical(typ string) bool { return typ[0] >= 'A' && typ[0] <= 'Z' }

// copyBufSize is the piece in which chunk data is copied: a chunk is never held
// in memory whole, however long it says it is.
const copyBufSize = 32 << 10

// countingWriter counts the bytes written through it, for the size of the kept file.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readFull is io.ReadFull that reports running out of input as bad, the
// sentinel of the format being read, so a truncated file is the client's fault
// (a 400) while a real read error stays a server error.
func readFull(r io.Reader, p []byte, bad error) error {
	_, err := io.ReadFull(r, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", bad)
	}
	if err != nil {
		return fmt.Errorf("read image: %w", err)
	}
	return nil
}

// StripPNGMetadata copies a PNG from r to w keeping only the chunks needed to
// draw it (pngDrawingChunks), each byte for byte; an unknown critical chunk is
// refused (errBadPNG), any other chunk dropped. It
// returns the bytes written. The input must be a well-formed chunk stream: the
// signature, IHDR first, each kept chunk's CRC right, IEND last and nothing
// after it; otherwise it fails with errBadPNG, and w holds a partial copy the
// caller must discard. Chunk data is streamed through a fixed buffer, never held
// in memory.
func StripPNGMetadata(w io.Writer, r *bufio.Reader) (int64, error) {
	out := &countingWriter{w: w}
	var sig [8]byte
	if err := readFull(r, sig[:], errBadPNG); err != nil {
		return 0, err
	}
	if string(sig[:]) != pngSignature {
		return 0, fmt.Errorf("%w: bad signature", errBadPNG)
	}
	if _, err := out.Write(sig[:]); err != nil {
		return out.n, err
	}
	buf := make([]byte, copyBufSize)
	for first := true; ; first = false {
		var head [8]byte // length, type
		if err := readFull(r, head[:], errBadPNG); err != nil {
			return out.n, err // no IEND before the end
		}
		length := binary.BigEndian.Uint32(head[:4])
		typ := string(head[4:])
		if length > math.MaxInt32 {
			return out.n, fmt.Errorf("%w: chunk %q length %d", errBadPNG, typ, length)
		}
		if first != (typ == "IHDR") {
			return out.n, fmt.Errorf("%w: %s where IHDR must come first and only there", errBadPNG, typ)
		}
		if !pngDrawingChunks[typ] && pngCritical(typ) {
			return out.n, fmt.Errorf("%w: unknown critical chunk %q", errBadPNG, typ)
		}
		if !pngDrawingChunks[typ] {
			// Data and CRC, unchecked: the chunk is not kept.
			if _, err := io.CopyN(io.Discard, r, int64(length)+4); err != nil {
				if errors.Is(err, io.EOF) {
					return out.n, fmt.Errorf("%w: truncated %s", errBadPNG, typ)
				}
				return out.n, fmt.Errorf("read image: %w", err)
			}
			continue
		}
		if _, err := out.Write(head[:]); err != nil {
			return out.n, err
		}
		crc := crc32.NewIEEE()
		crc.Write(head[4:])
		for left := int(length); left > 0; {
			p := buf[:min(left, len(buf))]
			if err := readFull(r, p, errBadPNG); err != nil {
				return out.n, err
			}
			crc.Write(p)
			if _, err := out.Write(p); err != nil {
				return out.n, err
			}
			left -= len(p)
		}
		var sum [4]byte
		if err := readFull(r, sum[:], errBadPNG); err != nil {
			return out.n, err
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return out.n, fmt.Errorf("%w: bad CRC in %s", errBadPNG, typ)
		}
		if _, err := out.Write(sum[:]); err != nil {
			return out.n, err
		}
		if typ == "IEND" {
			if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
				if err != nil {
					return out.n, fmt.Errorf("read image: %w", err)
				}
				return out.n, fmt.Errorf("%w: data after IEND", errBadPNG)
			}
			return out.n, nil
		}
	}
}

// VP8X flags (first byte of its data) announcing EXIF and XMP chunks; cleared
// with the chunks so the header does not promise what is gone.
const (
	vp8xFlagEXIF = 0x08
	vp8xFlagXMP  = 0x04
)

// webpChunk is one chunk of a WebP's RIFF container: its FourCC, the offset of
// its 8-byte header in the file, and its data size (without the pad byte).
type webpChunk struct {
	fourCC string
	off    int64
	size   int64
}

// padded is the chunk's length in the file: header, data, and the pad byte that
// keeps the next chunk at an even offset.
func (c webpChunk) padded() int64 { return 8 + c.size + c.size&1 }

// webpDrawingChunks are the top-level WebP chunks needed to draw the image: the
// bitstreams, alpha, the extended header, the ICC profile and the animation. EXIF,
// XMP and unknown chunks are dropped.
var webpDrawingChunks = map[string]bool{"VP8 ": true, "VP8L": true, "VP8X": true, "ALPH": true, "ICCP": true, "ANIM": true, "ANMF": true}

// webpFrameChunks are the chunks an ANMF frame's data may keep after its 16-byte
// frame header: alpha and one bitstream. The spec lets a frame carry unknown
// chunks too, which is where EXIF can hide in an animation; those go.
var webpFrameChunks = map[string]bool{"ALPH": true, "VP8 ": true, "VP8L": true}

// anmfHeader is the frame header at the start of an ANMF chunk's data: offset,
// size, duration and flags.
const anmfHeader = 16

// keep reports whether the chunk survives stripping.
func (c webpChunk) keep() bool { return webpDrawingChunks[c.fourCC] }

// walkANMF calls fn for each chunk inside the ANMF frame c, after the frame
// header. The chunks with their pad bytes must fill the frame's data exactly.
func walkANMF(r io.ReaderAt, c webpChunk, fn func(webpChunk) error) error {
	if c.size < anmfHeader {
		return fmt.Errorf("%w: ANMF of %d bytes", errBadWebP, c.size)
	}
	end := c.off + 8 + c.size
	for off := c.off + 8 + anmfHeader; off < end; {
		var ch [8]byte
		if err := readFull(io.NewSectionReader(r, off, end-off), ch[:], errBadWebP); err != nil {
			return err
		}
		sub := webpChunk{fourCC: string(ch[:4]), off: off, size: int64(binary.LittleEndian.Uint32(ch[4:]))}
		if off+sub.padded() > end {
			return fmt.Errorf("%w: frame chunk %q runs past its frame", errBadWebP, sub.fourCC)
		}
		if err := fn(sub); err != nil {
			return err
		}
		off += sub.padded()
	}
	return nil
}

// keptSize is the chunk's length in the stripped file: an ANMF frame shrinks by
// the chunks it drops, any other kept chunk is copied whole.
func (c webpChunk) keptSize(r io.ReaderAt) (int64, error) {
	if c.fourCC != "ANMF" {
		return c.padded(), nil
	}
	n := int64(8 + anmfHeader)
	err := walkANMF(r, c, func(sub webpChunk) error {
		if webpFrameChunks[sub.fourCC] {
			n += sub.padded()
		}
		return nil
	})
	return n, err
}

// walkWebP checks the RIFF header and chunk layout of the size-byte WebP in r and
// calls fn for each top-level chunk in order. The RIFF length must match size,
// the first chunk must be a bitstream or VP8X, and every chunk with its pad byte
// must end inside the file, the last exactly at its end; otherwise errBadWebP.
func walkWebP(r io.ReaderAt, size int64, fn func(webpChunk) error) error {
	var head [20]byte // RIFF header and the first chunk's header
	if err := readFull(io.NewSectionReader(r, 0, size), head[:], errBadWebP); err != nil {
		return err
	}
	if string(head[:4]) != "RIFF" || string(head[8:12]) != "WEBP" ||
		int64(binary.LittleEndian.Uint32(head[4:8]))+8 != size {
		return fmt.Errorf("%w: bad RIFF header", errBadWebP)
	}
	switch string(head[12:16]) {
	case "VP8 ", "VP8L", "VP8X":
	default:
		return fmt.Errorf("%w: first chunk %q", errBadWebP, head[12:16])
	}
	for off := int64(12); off < size; {
		var ch [8]byte
		if err := readFull(io.NewSectionReader(r, off, size-off), ch[:], errBadWebP); err != nil {
			return err
		}
		c := webpChunk{fourCC: string(ch[:4]), off: off, size: int64(binary.LittleEndian.Uint32(ch[4:]))}
		if off+c.padded() > size {
			return fmt.Errorf("%w: chunk %q runs past the end", errBadWebP, c.fourCC)
		}
		if c.fourCC == "VP8X" && off == 12 && c.size < 10 {
			return fmt.Errorf("%w: VP8X of %d bytes", errBadWebP, c.size)
		}
		if err := fn(c); err != nil {
			return err
		}
		off += c.padded()
	}
	return nil
}

// StripWebPMetadata copies the size-byte WebP in r to w keeping only the chunks
// needed to draw it (webpDrawingChunks, and inside each animation frame
// webpFrameChunks), clears the VP8X flags that announced EXIF and XMP, and
// rewrites the RIFF and frame lengths to match; kept chunks are copied byte for
// byte. It returns the bytes
// written. It reads r twice, first to check the layout and size the output (the
// RIFF length comes before the chunks), then to copy, so the photo is never held
// in memory; r must not change in between. Malformed input fails with
// errBadWebP before anything is written.
func StripWebPMetadata(w io.Writer, r io.ReaderAt, size int64) (int64, error) {
	outSize := int64(12)
	if err := walkWebP(r, size, func(c webpChunk) error {
		if c.keep() {
			n, err := c.keptSize(r)
			outSize += n
			return err
		}
		return nil
	}); err != nil {
		return 0, err
	}
	out := &countingWriter{w: w}
	head := []byte("RIFF\x00\x00\x00\x00WEBP")
	binary.LittleEndian.PutUint32(head[4:8], uint32(outSize-8))
	if _, err := out.Write(head); err != nil {
		return out.n, err
	}
	buf := make([]byte, copyBufSize)
	err := walkWebP(r, size, func(c webpChunk) error {
		if !c.keep() {
			return nil
		}
		if c.fourCC == "ANMF" {
			return copyANMF(out, r, c, buf)
		}
		src := io.NewSectionReader(r, c.off, c.padded())
		if c.fourCC == "VP8X" && c.off == 12 {
			var h [9]byte // chunk header and the flags byte
			if err := readFull(src, h[:], errBadWebP); err != nil {
				return err
			}
			h[8] &^= vp8xFlagEXIF | vp8xFlagXMP
			if _, err := out.Write(h[:]); err != nil {
				return err
			}
		}
		_, err := io.CopyBuffer(out, src, buf)
		return err
	})
	if err == nil && out.n != outSize {
		err = fmt.Errorf("webp copy: wrote %d bytes, sized %d: the file changed meanwhile", out.n, outSize)
	}
	return out.n, err
}

// copyANMF writes the animation frame c with only its drawing chunks and its
// length shrunk to match.
func copyANMF(out io.Writer, r io.ReaderAt, c webpChunk, buf []byte) error {
	n, err := c.keptSize(r)
	if err != nil {
		return err
	}
	head := make([]byte, 8+anmfHeader)
	if err := readFull(io.NewSectionReader(r, c.off, 8+anmfHeader), head, errBadWebP); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(head[4:8], uint32(n-8))
	if _, err := out.Write(head); err != nil {
		return err
	}
	return walkANMF(r, c, func(sub webpChunk) error {
		if !webpFrameChunks[sub.fourCC] {
			return nil
		}
		_, err := io.CopyBuffer(out, io.NewSectionReader(r, sub.off, sub.padded()), buf)
		return err
	})
}

// jpegKeptSegment decides what of a JPEG segment (marker and payload, without
// the length) is kept: the frame headers, Huffman and arithmetic tables (C0–CF),
// scans, quantisation tables, restart interval and the hierarchical markers
// (DA–DF) whole; APP0 JFIF cut to its 14-byte header (its optional thumbnail is
// the uncropped picture); APP2 ICC_PROFILE and APP14 Adobe (colour transform),
// which change how the pixels are drawn. Everything else goes: APP1 (EXIF with
// GPS, XMP), APP2 MPF, APP3–APP15 (vendors' makernotes, IPTC in APP13, JFXX
// thumbnails), COM and the reserved markers.
func jpegKeptSegment(marker byte, payload []byte) ([]byte, bool) {
	const jfifHeader = 14 // "JFIF\0", version, units, densities, thumbnail size
	switch {
	case marker >= 0xC0 && marker <= 0xCF, marker >= 0xDA && marker <= 0xDF:
		return payload, true
	case marker == 0xE0 && len(payload) >= jfifHeader && bytes.HasPrefix(payload, []byte("JFIF\x00")):
		if len(payload) == jfifHeader && payload[12] == 0 && payload[13] == 0 {
			return payload, true
		}
		kept := append([]byte(nil), payload[:jfifHeader]...)
		kept[12], kept[13] = 0, 0 // no thumbnail
		return kept, true
	case marker == 0xE2 && bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00")):
		return payload, true
	case marker == 0xEE && bytes.HasPrefix(payload, []byte("Adobe")):
		return payload, true
	}
	return nil, false
}
