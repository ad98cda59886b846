package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"nantian/models/ops"
	"nantian/models/report"

	"github.com/gin-gonic/gin"
)

// MaxImportBytes caps a history-import upload: 5,000 rows of a few hundred bytes
// each fit comfortably. The route gets this limit instead of the API's 1 MiB.
const MaxImportBytes = 5 << 20

// ImportsHandler serves the staff history import.
type ImportsHandler struct {
	Imports *ops.Imports   // the audited import operation
	Loc     *time.Location // APP_TIMEZONE: the CSV's times are local
}

// Sessions imports held sessions from a CSV, sent either as the raw body with
// Content-Type text/csv or as the multipart/form-data field "file" (what a browser
// form or wx.uploadFile sends). The whole file is validated first: any bad row
// answers 422 import_invalid listing every bad line, and nothing is stored.
// 201 when something new was imported, 200 when every row was already there.
func (h *ImportsHandler) Sessions(c *gin.Context) {
	data, ok := readImportFile(c)
	if !ok {
		return
	}
	rows, err := report.ParseImportCSV(data, h.Loc)
	var inv *report.ImportInvalidError
	if errors.As(err, &inv) {
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, importInvalidBody{Error: importInvalidDetail{
			Code: "import_invalid", Message: "文件有错误，未导入任何数据；请修改下列行后重新导入", Rows: inv.Rows,
		}})
		return
	}
	if err != nil {
		Fail(c, err)
		return
	}
	res, err := h.Imports.Sessions(c.Request.Context(), Actor(c), "", rows)
	if err != nil {
		Fail(c, err)
		return
	}
	status := http.StatusCreated
	if res.Imported == 0 {
		status = http.StatusOK
	}
	c.JSON(status, res)
}

type importInvalidBody struct {
	Error importInvalidDetail `json:"error"`
}

type importInvalidDetail struct {
	Code    string                  `json:"code"`
	Message string                  `json:"message"`
	Rows    []report.ImportRowError `json:"rows"`
}

// readImportFile returns the uploaded bytes, or answers 400/413 and returns false.
func readImportFile(c *gin.Context) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		mt = ""
	}
	var data []byte
	switch mt {
	case "text/csv":
		data, err = io.ReadAll(c.Request.Body)
	case "multipart/form-data":
		data, err = multipartFile(c.Request, "file")
		if errors.Is(err, errNoFilePart) {
			Abort(c, http.StatusBadRequest, "invalid_request", "file: 必填（multipart 字段 file）")
			return nil, false
		}
	default:
		Abort(c, http.StatusBadRequest, "invalid_request", "Content-Type 应为 text/csv 或 multipart/form-data（字段 file）")
		return nil, false
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			Fail(c, err)
			return nil, false
		}
		Abort(c, http.StatusBadRequest, "invalid_request", "上传内容无法读取")
		return nil, false
	}
	return data, true
}

var errNoFilePart = errors.New("no file part")

// multipartFile streams the multipart body and reads the named part; nothing is
// spooled to disk.
func multipartFile(r *http.Request, field string) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errNoFilePart
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() == field {
			data, err := io.ReadAll(p)
			p.Close()
			return data, err
		}
		p.Close()
	}
}
