package complaint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// PNG and WebP photos can carry the same personal data as a JPEG's EXIF: the GPS
// position of the place they were taken (a resident's home), the camera owner's
// name, the time. Phones and editors write it into eXIf and text chunks (PNG) or
// EXIF and XMP chunks (WebP), so those are dropped before a photo is kept.

var (
	errBadPNG  = errors.New("malformed png")
	errBadWebP = errors.New("malformed webp")
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngMetadataChunks are the PNG chunks that can carry personal data: EXIF (GPS
// position, camera serial), free text (author, comment, XMP as iTXt
// "XML:com.adobe.xmp", ImageMagick's "Raw profile type exif") and the time of
// last modification. None affects how the image is drawn.
var pngMetadataChunks = map[string]bool{"eXIf": true, "tEXt": true, "zTXt": true, "iTXt": true, "tIME": true}

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

// StripPNGMetadata copies a PNG from r to w without the chunks that can carry
// personal data (pngMetadataChunks); every other chunk, critical or ancillary
// (gAMA, iCCP, pHYs, tRNS, the APNG chunks...), is copied byte for byte. It
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
		if pngMetadataChunks[typ] {
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

// keep reports whether the chunk survives stripping: EXIF (GPS position) and XMP
// go, everything else (VP8, VP8L, VP8X, ALPH, ANIM, ANMF, ICCP, unknown) stays.
func (c webpChunk) keep() bool { return c.fourCC != "EXIF" && c.fourCC != "XMP " }

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

// StripWebPMetadata copies the size-byte WebP in r to w without its EXIF and XMP
// chunks, clears the VP8X flags that announced them, and rewrites the RIFF length
// to match; every other chunk is copied byte for byte. It returns the bytes
// written. It reads r twice, first to check the layout and size the output (the
// RIFF length comes before the chunks), then to copy, so the photo is never held
// in memory; r must not change in between. Malformed input fails with
// errBadWebP before anything is written.
func StripWebPMetadata(w io.Writer, r io.ReaderAt, size int64) (int64, error) {
	outSize := int64(12)
	if err := walkWebP(r, size, func(c webpChunk) error {
		if c.keep() {
			outSize += c.padded()
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
