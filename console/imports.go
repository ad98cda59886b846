package console

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"nantian/models/report"
)

// Journey 8 — Imports: upload a history CSV (the spreadsheets kept before this
// system, one row per held session), see every bad row with its line and reason,
// then commit. The preview re-reads nothing from the server: the file's text
// rides along in the commit form, which parses and validates it again (a commit
// never trusts the preview), so the two steps work without JavaScript and
// without server-side state.

// maxImportUpload bounds an import request: the API's limit for the file plus
// room for the form around it.
const maxImportUpload = 5<<20 + 64<<10

// limitBody caps a request body before anything reads it (the CSRF check parses
// the form).
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// importView is the import page's data: nothing yet, a file's errors, its
// preview, or the result of a commit.
type importView struct {
	FileName string
	Errors   []report.ImportRowError
	Problem  string // a refusal of the whole file (empty, too many rows, not a CSV)
	Rows     []report.ImportRow
	Shown    []report.ImportRow // the first rows, for the preview table
	Preview  report.ImportResult
	Totals   struct {
		Attendances int
		FeesFen     int64
	}
	CSV  string // the file's text, carried to the commit form
	Done *report.ImportResult
}

const importPreviewRows = 50

func (c *Console) importsPage(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "imports", c.newView(r, "历史数据导入", "imports", importView{}))
}

// readImport returns the CSV text from the upload (field file) or from the
// commit form (field csv).
func readImport(r *http.Request) (name string, data []byte, err error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		return "", nil, err
	}
	if s := r.FormValue("csv"); s != "" {
		return r.FormValue("file_name"), []byte(s), nil
	}
	f, h, err := r.FormFile("file")
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	data, err = io.ReadAll(f)
	return h.Filename, data, err
}

// importCheck parses and validates the upload; the view says what was wrong, or
// holds the rows.
func (c *Console) importCheck(w http.ResponseWriter, r *http.Request) (importView, bool) {
	var v importView
	name, data, err := readImport(r)
	v.FileName = name
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		v.Problem = "文件太大：一次最多 5 MB。"
	case errors.Is(err, http.ErrMissingFile):
		v.Problem = "请选择要导入的 CSV 文件。"
	case err != nil:
		v.Problem = "上传内容无法读取，请重新选择文件。"
	}
	if v.Problem != "" {
		return v, false
	}
	rows, err := report.ParseImportCSV(data, c.d.Loc)
	var inv *report.ImportInvalidError
	switch {
	case errors.As(err, &inv):
		v.Errors = inv.Rows
		return v, false
	case err != nil:
		_, v.Problem = errorText(err)
		return v, false
	}
	v.Rows, v.Shown = rows, rows[:min(len(rows), importPreviewRows)]
	for _, row := range rows {
		v.Totals.Attendances += row.Attendances
		v.Totals.FeesFen += row.FeesFen
	}
	if utf8.Valid(data) {
		v.CSV = string(data)
	}
	return v, true
}

// importPreview checks an uploaded file: every bad row with its reason, or the
// rows and what a commit would add.
func (c *Console) importPreview(w http.ResponseWriter, r *http.Request) {
	v, ok := c.importCheck(w, r)
	status := http.StatusOK
	if ok {
		p, err := c.d.Imports.PreviewImport(r.Context(), v.Rows)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		v.Preview = p
	} else {
		status = http.StatusUnprocessableEntity
	}
	c.page(w, r, status, "imports", c.newView(r, "历史数据导入", "imports", v))
}

// importCommit validates the file again and imports it with the same domain
// operation as the API's POST /staff/imports/sessions (all or nothing, re-imports
// skipped).
func (c *Console) importCommit(w http.ResponseWriter, r *http.Request) {
	v, ok := c.importCheck(w, r)
	if !ok {
		c.page(w, r, http.StatusUnprocessableEntity, "imports", c.newView(r, "历史数据导入", "imports", v))
		return
	}
	res, err := c.d.Ops.Imports.Sessions(r.Context(), c.actor(w, r), v.FileName, v.Rows)
	if err != nil {
		c.refused(w, r, "/console/imports", err)
		return
	}
	c.done(w, r, "/console/imports", "导入完成：新增 "+strconv.Itoa(res.Imported)+" 场，跳过已导入的 "+strconv.Itoa(res.SkippedDuplicates)+" 场。")
}
