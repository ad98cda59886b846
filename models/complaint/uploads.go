package complaint

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig proves a JPEG really is one
	_ "image/png"  // and a PNG
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"nantian/models"
)

// MaxUploadBytes is the largest photo accepted (5 MiB).
const MaxUploadBytes = 5 << 20

// Upload errors.
var (
	ErrUploadTooLarge = &models.Error{Kind: models.KindTooLarge, Code: "payload_too_large", Message: "图片不能超过 5 MiB"}
	ErrUploadEmpty    = models.Invalid("file", "文件为空")
	ErrUploadType     = models.Invalid("file", "仅支持 JPEG、PNG 或 WebP 图片")
	// ErrTooManyPending refuses an upload while the uploader already has
	// MaxPending photos attached to nothing (a 429 with Retry-After).
	ErrTooManyPending = &models.Error{Kind: models.KindTooMany, Code: "rate_limited", Message: "未提交的照片过多，请先提交诉求或稍后再试"}
)

// Upload is a stored photo. The file lives under the upload directory with a random
// name; only its owner, staff, and the filer of the complaint it is attached to
// may read it.
type Upload struct {
	ID          int64     `json:"id"`
	UserID      int64     `json:"-"`
	FileName    string    `json:"-"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	ComplaintID *int64    `json:"-"`
	URL         string    `json:"url"`
	CreatedAt   time.Time `json:"created_at"`
}

// Uploads stores photos on disk (Dir, which must be shared storage when several
// instances run) and their metadata in MySQL.
type Uploads struct {
	DB  *sql.DB
	Dir string
	Now models.Clock
	// OrphanAfter: uploads attached to nothing for this long are deleted.
	OrphanAfter time.Duration
	// MaxPending caps the uploads one user may hold attached to nothing (0: no
	// cap). Without it one account could fill the disk with 5 MiB files faster
	// than OrphanAfter clears them; attached photos are bounded by the complaint
	// limits instead.
	MaxPending int
}

func UploadURL(id int64) string { return "/api/v1/uploads/" + strconv.FormatInt(id, 10) }

// uploadKind is how one accepted image type is stored: its file extension and
// the function that copies it without metadata. Every kind is rewritten, never
// kept as uploaded, because a phone photo's metadata carries the GPS position of
// where it was taken, often the resident's home.
type uploadKind struct {
	ext   string
	strip func(w io.Writer, src io.ReaderAt, size int64) (int64, error)
}

var uploadKinds = map[string]uploadKind{
	"image/jpeg": {".jpg", func(w io.Writer, src io.ReaderAt, size int64) (int64, error) {
		return StripJPEGMetadata(w, bufio.NewReader(io.NewSectionReader(src, 0, size)))
	}},
	"image/png": {".png", func(w io.Writer, src io.ReaderAt, size int64) (int64, error) {
		return StripPNGMetadata(w, bufio.NewReader(io.NewSectionReader(src, 0, size)))
	}},
	"image/webp": {".webp", StripWebPMetadata},
}

// Save stores the photo read from r for userID. The type comes from the bytes
// (magic numbers, then a real decode of the header for JPEG and PNG), never from
// the file name or the client's Content-Type. r is streamed to a temporary file,
// never held in memory: reading stops one byte past MaxUploadBytes and the upload
// is refused with ErrUploadTooLarge. The kept file is a copy without metadata:
// JPEG APP1/APP13 segments (EXIF with GPS position, XMP, IPTC), PNG eXIf, text
// and tIME chunks, WebP EXIF and XMP chunks. A file whose structure does not
// allow that copy is refused with ErrUploadType; the recorded size is that of
// the copy.
func (s *Uploads) Save(ctx context.Context, userID int64, r io.Reader) (Upload, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Upload{}, fmt.Errorf("read upload: %w", err)
	}
	head = head[:n]
	if n == 0 {
		return Upload{}, ErrUploadEmpty
	}
	ctype := http.DetectContentType(head)
	kind, ok := uploadKinds[ctype]
	if !ok {
		return Upload{}, ErrUploadType
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return Upload{}, fmt.Errorf("upload dir: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".incoming-*")
	if err != nil {
		return Upload{}, fmt.Errorf("create temp upload: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	written, err := io.Copy(tmp, io.MultiReader(bytes.NewReader(head), io.LimitReader(r, MaxUploadBytes+1-int64(n))))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Upload{}, ErrUploadTooLarge
		}
		return Upload{}, fmt.Errorf("write upload: %w", err)
	}
	if written > MaxUploadBytes {
		return Upload{}, ErrUploadTooLarge
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Upload{}, fmt.Errorf("rewind upload: %w", err)
	}
	if err := validateImage(tmp, ctype, written); err != nil {
		return Upload{}, err
	}
	name := models.RandomHex(16) + kind.ext
	final := filepath.Join(s.Dir, name)
	out, err := os.OpenFile(final, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return Upload{}, fmt.Errorf("create upload: %w", err)
	}
	size, err := kind.strip(out, tmp, written)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(final)
		if errors.Is(err, errBadJPEG) || errors.Is(err, errBadPNG) || errors.Is(err, errBadWebP) {
			return Upload{}, ErrUploadType
		}
		return Upload{}, fmt.Errorf("strip %s metadata: %w", ctype, err)
	}
	now := s.Now()
	var id int64
	err = models.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if err := s.checkPending(ctx, tx, userID, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO uploads (user_id, file_name, content_type, size, created_at) VALUES (?, ?, ?, ?, ?)`,
			userID, name, ctype, size, now)
		if err != nil {
			return fmt.Errorf("insert upload: %w", err)
		}
		id, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		os.Remove(final)
		return Upload{}, err
	}
	return Upload{ID: id, UserID: userID, FileName: name, ContentType: ctype, Size: size, URL: UploadURL(id), CreatedAt: now}, nil
}

// checkPending refuses a new upload while userID holds MaxPending uploads attached
// to nothing. The uploader's row is locked first (as filing a complaint does
// before attaching photos), so concurrent uploads are counted one after another
// and cannot slip past the cap together. Retry-After is when the oldest of them
// is due to be cleaned up.
func (s *Uploads) checkPending(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) error {
	if s.MaxPending <= 0 {
		return nil
	}
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ? FOR UPDATE`, userID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return models.ErrNotFound
		}
		return fmt.Errorf("lock uploader: %w", err)
	}
	var n int
	var oldest sql.NullTime
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM uploads WHERE user_id = ? AND complaint_id IS NULL`, userID).
		Scan(&n, &oldest); err != nil {
		return fmt.Errorf("count pending uploads: %w", err)
	}
	if n < s.MaxPending {
		return nil
	}
	after := time.Minute // the cleaner runs about once a minute
	if oldest.Valid {
		after = max(after, oldest.Time.Add(s.OrphanAfter).Sub(now))
	}
	return &RetryAfterError{Err: ErrTooManyPending, After: after}
}

// The largest image accepted, by the dimensions its header declares. The server
// never decodes pixels, but staff pages and the mini-program do: a file of a few
// kilobytes can declare 100000×100000 pixels (a "decompression bomb"), and every
// device that opens the complaint would try to allocate tens of gigabytes for it.
// 120 megapixels and 30000 pixels a side leave room for any real phone photo
// (a 108 MP sensor is 12032×9024) that fits in 5 MiB.
const (
	MaxImageSide   = 30000
	MaxImagePixels = 120_000_000
)

// ErrUploadDimensions refuses an image declaring more than MaxImagePixels or a
// side longer than MaxImageSide.
var ErrUploadDimensions = models.Invalid("file", "图片尺寸过大（每边最多 %d 像素，总计最多 %d 万像素）", MaxImageSide, MaxImagePixels/10000)

// checkDimensions applies the size limits to declared dimensions.
func checkDimensions(w, h int) error {
	if w <= 0 || h <= 0 {
		return ErrUploadType
	}
	if w > MaxImageSide || h > MaxImageSide || int64(w)*int64(h) > MaxImagePixels {
		return ErrUploadDimensions
	}
	return nil
}

// validateImage checks the bytes are a well-formed header of the sniffed type, so
// a file that merely starts with a magic number is refused, and that the image
// it declares is not absurdly large (checkDimensions).
func validateImage(f *os.File, ctype string, size int64) error {
	switch ctype {
	case "image/jpeg", "image/png":
		cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
		if err != nil {
			return ErrUploadType
		}
		return checkDimensions(cfg.Width, cfg.Height)
	case "image/webp":
		// RIFF <len> WEBP <chunk>: the RIFF length must match the file and the
		// first chunk must be one of the three WebP bitstream kinds.
		var h [16]byte
		if _, err := io.ReadFull(f, h[:]); err != nil {
			return ErrUploadType
		}
		riffLen := int64(binary.LittleEndian.Uint32(h[4:8]))
		chunk := string(h[12:16])
		if riffLen+8 != size || (chunk != "VP8 " && chunk != "VP8L" && chunk != "VP8X") {
			return ErrUploadType
		}
		return checkWebPDimensions(f, size)
	}
	return nil
}

// checkWebPDimensions applies checkDimensions to the size a WebP declares: the
// VP8X canvas, and the frame size of every top-level VP8 (lossy) and VP8L
// (lossless) bitstream. A header too short to hold its size is ErrUploadType.
func checkWebPDimensions(r io.ReaderAt, size int64) error {
	err := walkWebP(r, size, func(c webpChunk) error {
		var n int64
		switch c.fourCC {
		case "VP8X":
			n = 10
		case "VP8 ":
			n = 10
		case "VP8L":
			n = 5
		default:
			return nil
		}
		if c.size < n {
			return errBadWebP
		}
		d := make([]byte, n)
		if _, err := r.ReadAt(d, c.off+8); err != nil {
			return errBadWebP
		}
		var w, h int
		switch c.fourCC {
		case "VP8X": // flags, 3 reserved bytes, canvas width−1 and height−1 (24 bits each)
			w = 1 + (int(d[4]) | int(d[5])<<8 | int(d[6])<<16)
			h = 1 + (int(d[7]) | int(d[8])<<8 | int(d[9])<<16)
		case "VP8 ": // frame tag (3 bytes), start code 9d 01 2a, 14-bit width and height
			if d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
				return errBadWebP
			}
			w = int(binary.LittleEndian.Uint16(d[6:8]) & 0x3fff)
			h = int(binary.LittleEndian.Uint16(d[8:10]) & 0x3fff)
		case "VP8L": // signature 0x2f, then width−1 and height−1 in 14 bits each
			if d[0] != 0x2f {
				return errBadWebP
			}
			bits := binary.LittleEndian.Uint32(d[1:5])
			w = 1 + int(bits&0x3fff)
			h = 1 + int(bits>>14&0x3fff)
		}
		return checkDimensions(w, h)
	})
	if errors.Is(err, errBadWebP) {
		return ErrUploadType
	}
	return err
}

var errBadJPEG = errors.New("malformed jpeg")

// StripJPEGMetadata copies a JPEG from r to w keeping only the segments needed
// to draw it (jpegKeptSegment: frame, tables, scans, JFIF without its thumbnail,
// the ICC profile, Adobe's colour transform), wherever the others stand, and
// without anything after the end-of-image marker, which is where phones append
// their extra pictures (MPF depth maps, HDR frames, thumbnails) each with its own
// EXIF. It returns the bytes written.
func StripJPEGMetadata(w io.Writer, r *bufio.Reader) (int64, error) {
	out := &countingWriter{w: bufio.NewWriterSize(w, copyBufSize)}
	n, err := stripJPEG(out, r)
	if ferr := out.w.(*bufio.Writer).Flush(); err == nil {
		err = ferr
	}
	return n, err
}

func stripJPEG(out *countingWriter, r *bufio.Reader) (int64, error) {
	put := func(b ...byte) error { _, err := out.Write(b); return err }
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi[0] != 0xFF || soi[1] != 0xD8 {
		return out.n, errBadJPEG
	}
	if err := put(soi[:]...); err != nil {
		return out.n, err
	}
	marker, err := readJPEGMarker(r)
	seg := make([]byte, 0, 1<<16)
	for {
		if err != nil {
			return out.n, err
		}
		switch {
		case marker == 0xD9: // EOI: the image ends here, whatever follows
			return out.n, put(0xFF, marker)
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // TEM, RSTn: no length
			if err := put(0xFF, marker); err != nil {
				return out.n, err
			}
			marker, err = readJPEGMarker(r)
			continue
		}
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return out.n, errBadJPEG
		}
		segLen := int(binary.BigEndian.Uint16(lb[:]))
		if segLen < 2 {
			return out.n, errBadJPEG
		}
		seg = seg[:segLen-2]
		if _, err := io.ReadFull(r, seg); err != nil {
			return out.n, errBadJPEG
		}
		if kept, ok := jpegKeptSegment(marker, seg); ok {
			n := len(kept) + 2
			if err := put(0xFF, marker, byte(n>>8), byte(n)); err != nil {
				return out.n, err
			}
			if _, err := out.Write(kept); err != nil {
				return out.n, err
			}
		}
		if marker == 0xDA { // start of scan: entropy-coded data up to the next marker
			marker, err = copyJPEGScan(out, r)
			continue
		}
		marker, err = readJPEGMarker(r)
	}
}

// readJPEGMarker reads the next marker outside entropy-coded data: 0xFF, any
// fill bytes, and the marker code.
func readJPEGMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil || b != 0xFF {
		return 0, errBadJPEG
	}
	for b == 0xFF {
		if b, err = r.ReadByte(); err != nil {
			return 0, errBadJPEG
		}
	}
	return b, nil
}

// copyJPEGScan copies a scan's entropy-coded data, where 0xFF is followed by a
// stuffed 0x00 or a restart marker, and returns the first other marker (the next
// scan's tables, or EOI) without writing it.
func copyJPEGScan(out *countingWriter, r *bufio.Reader) (byte, error) {
	for {
		run, err := r.ReadSlice(0xFF) // image bytes up to the next 0xFF, in place
		if errors.Is(err, bufio.ErrBufferFull) {
			if _, err := out.Write(run); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, errBadJPEG // no EOI
		}
		if _, err := out.Write(run[:len(run)-1]); err != nil {
			return 0, err
		}
		m := byte(0xFF)
		for m == 0xFF {
			if m, err = r.ReadByte(); err != nil {
				return 0, errBadJPEG
			}
		}
		if m != 0x00 && (m < 0xD0 || m > 0xD7) {
			return m, nil
		}
		if _, err := out.Write([]byte{0xFF, m}); err != nil {
			return 0, err
		}
	}
}

// Get returns an upload if the caller may see it: its owner, staff once it is
// attached to a work order, or the filer of the complaint it is attached to
// (signed agreements staff photographed). Anyone else gets ErrNotFound, as if it
// did not exist.
func (s *Uploads) Get(ctx context.Context, id int64, p models.Principal) (Upload, error) {
	var u Upload
	var complaintOwner sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT u.id, u.user_id, u.file_name, u.content_type, u.size, u.complaint_id, u.created_at, c.user_id
		FROM uploads u LEFT JOIN complaints c ON c.id = u.complaint_id WHERE u.id = ?`, id).
		Scan(&u.ID, &u.UserID, &u.FileName, &u.ContentType, &u.Size, &u.ComplaintID, &u.CreatedAt, &complaintOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, models.ErrNotFound
	}
	if err != nil {
		return Upload{}, fmt.Errorf("get upload %d: %w", id, err)
	}
	owner := u.UserID == p.UserID
	filer := complaintOwner.Valid && complaintOwner.Int64 == p.UserID
	// Staff see a photo once it is part of a work order; a resident's draft (not
	// yet attached, perhaps never to be sent) is theirs alone.
	staff := models.IsStaff(p.Role) && u.ComplaintID != nil
	if !owner && !filer && !staff {
		return Upload{}, models.ErrNotFound
	}
	u.URL = UploadURL(u.ID)
	return u, nil
}

// Open opens the stored file of an upload returned by Get.
func (s *Uploads) Open(u Upload) (*os.File, error) {
	f, err := os.Open(filepath.Join(s.Dir, filepath.Base(u.FileName)))
	if err != nil {
		return nil, fmt.Errorf("open upload %d: %w", u.ID, err)
	}
	return f, nil
}

// attachUploads ties photo ids to a complaint inside tx. Every id must belong to
// ownerID and be unattached; otherwise nothing is attached and the field is
// reported invalid. The guarded UPDATE also loses cleanly against the orphan
// cleaner deleting the same row.
func attachUploads(ctx context.Context, tx *sql.Tx, ids []int64, ownerID, complaintID int64, purpose, field string) error {
	if len(ids) == 0 {
		return nil
	}
	seen := map[int64]bool{}
	args := []any{complaintID, purpose, ownerID}
	marks := ""
	for _, id := range ids {
		if seen[id] {
			return models.Invalid(field, "照片 %d 重复", id)
		}
		seen[id] = true
		if marks != "" {
			marks += ","
		}
		marks += "?"
		args = append(args, id)
	}
	res, err := tx.ExecContext(ctx, `UPDATE uploads SET complaint_id = ?, purpose = ?
		WHERE user_id = ? AND complaint_id IS NULL AND id IN (`+marks+`)`, args...)
	if err != nil {
		return fmt.Errorf("attach uploads: %w", err)
	}
	if n, _ := res.RowsAffected(); n != int64(len(ids)) {
		return models.Invalid(field, "照片不存在、不属于你或已被使用")
	}
	return nil
}

// CleanOrphans deletes uploads attached to nothing for longer than OrphanAfter,
// rows and files, at most limit per call, and returns how many it removed. Each
// row is removed by a guarded DELETE (still unattached), so several instances can
// run it at once and a photo attached meanwhile is kept; only the instance whose
// DELETE won removes the file.
func (s *Uploads) CleanOrphans(ctx context.Context, limit int) (int, error) {
	cutoff := s.Now().Add(-s.OrphanAfter)
	rows, err := s.DB.QueryContext(ctx, `SELECT id, file_name FROM uploads
		WHERE complaint_id IS NULL AND created_at < ? ORDER BY id LIMIT ?`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("find orphan uploads: %w", err)
	}
	type orphan struct {
		id   int64
		name string
	}
	var found []orphan
	for rows.Next() {
		var o orphan
		if err := rows.Scan(&o.id, &o.name); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan orphan upload: %w", err)
		}
		found = append(found, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find orphan uploads: %w", err)
	}
	removed := 0
	for _, o := range found {
		res, err := s.DB.ExecContext(ctx, `DELETE FROM uploads WHERE id = ? AND complaint_id IS NULL AND created_at < ?`, o.id, cutoff)
		if err != nil {
			return removed, fmt.Errorf("delete orphan upload %d: %w", o.id, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			removed++
			if err := os.Remove(filepath.Join(s.Dir, filepath.Base(o.name))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("remove orphan file %d: %w", o.id, err)
			}
		}
	}
	return removed, nil
}

// attachPhotos fills PhotoIDs and AgreementPhotoIDs of the complaints with one
// query for all of them (a list page is up to 100 complaints).
func attachPhotos(ctx context.Context, q models.Querier, cs []Complaint) error {
	if len(cs) == 0 {
		return nil
	}
	byID := make(map[int64]*Complaint, len(cs))
	args := make([]any, len(cs))
	for i := range cs {
		byID[cs[i].ID] = &cs[i]
		args[i] = cs[i].ID
	}
	rows, err := q.QueryContext(ctx, `SELECT complaint_id, purpose, id FROM uploads
		WHERE complaint_id IN (?`+strings.Repeat(", ?", len(cs)-1)+`) ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("list photos: %w", err)
	}
	type photo struct {
		complaint, id int64
		purpose       string
	}
	photos, err := models.ScanAll(rows, "scan photo", func(r models.RowScanner) (photo, error) {
		var p photo
		return p, r.Scan(&p.complaint, &p.purpose, &p.id)
	})
	if err != nil {
		return err
	}
	for _, p := range photos {
		c := byID[p.complaint]
		if p.purpose == "agreement" {
			c.AgreementPhotoIDs = append(c.AgreementPhotoIDs, p.id)
		} else {
			c.PhotoIDs = append(c.PhotoIDs, p.id)
		}
	}
	return nil
}
