package handlers

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"nantian/models/complaint"

	"github.com/gin-gonic/gin"
)

// UploadBodyLimit caps a whole upload request: the 5 MiB photo plus room for the
// multipart envelope. The uploads route sets it instead of the 1 MiB JSON limit.
const UploadBodyLimit = complaint.MaxUploadBytes + 64<<10

// UploadsHandler receives and serves complaint photos.
type UploadsHandler struct {
	Uploads *complaint.Uploads
}

// Create stores the multipart field `file`. A declared Content-Length over the
// limit is refused before a byte is read; otherwise the part is streamed to disk
// and refused as soon as it passes 5 MiB, so nothing large is held in memory.
func (h *UploadsHandler) Create(c *gin.Context) {
	if c.Request.ContentLength > UploadBodyLimit {
		Abort(c, http.StatusRequestEntityTooLarge, "payload_too_large", "图片不能超过 5 MiB")
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		Abort(c, http.StatusBadRequest, "invalid_request", "file: 需要 multipart/form-data 上传")
		return
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			Abort(c, http.StatusBadRequest, "invalid_request", "file: 必填")
			return
		}
		if err != nil {
			failUploadRead(c, err)
			return
		}
		if part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				failUploadRead(c, err)
				return
			}
			continue
		}
		src := &recordingReader{r: part}
		u, err := h.Uploads.Save(c.Request.Context(), Caller(c).UserID, src)
		if err != nil {
			if src.err != nil && !errors.Is(src.err, io.EOF) {
				failUploadRead(c, src.err)
				return
			}
			failRetryAfter(c, err)
			return
		}
		c.JSON(http.StatusCreated, u)
		return
	}
}

// failUploadRead answers a failure reading the request: too large (413) or a
// malformed or truncated multipart body (400), never a 500.
func failUploadRead(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		Abort(c, http.StatusRequestEntityTooLarge, "payload_too_large", "图片不能超过 5 MiB")
		return
	}
	if IsUnavailable(err) {
		Fail(c, err)
		return
	}
	Abort(c, http.StatusBadRequest, "invalid_request", "file: 上传数据不完整或格式错误")
}

// recordingReader remembers the first error of the request body, so a client
// that sent a broken body is told so (400/413) rather than blamed on the server.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// Get serves a photo to its owner, staff, or the filer of the complaint it is
// attached to; anyone else gets 404.
func (h *UploadsHandler) Get(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	u, err := h.Uploads.Get(c.Request.Context(), id, Caller(c))
	if err != nil {
		Fail(c, err)
		return
	}
	f, err := h.Uploads.Open(u)
	if err != nil {
		Fail(c, err)
		return
	}
	defer f.Close()
	c.Header("Content-Type", u.ContentType)
	c.Header("Content-Length", strconv.FormatInt(u.Size, 10))
	c.Header("Cache-Control", "private, max-age=86400")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	_, _ = io.Copy(c.Writer, f)
}
