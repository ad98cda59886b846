package booking

import (
	"encoding/csv"
	"strings"
)

var rosterStatus = map[string]string{
	BookingPending: "待审核", BookingConfirmed: "已确认",
	BookingAttended: "已签到", BookingNoShow: "爽约",
}

// RosterCSV is the attendance roster as a spreadsheet: UTF-8 with a BOM so
// Excel opens the Chinese correctly, CRLF lines, user-supplied text defused
// against formulas. Both the API's roster.csv and the console's download use it.
func RosterCSV(rows []RosterRow) []byte {
	var sb strings.Builder
	sb.WriteString("\ufeff")
	w := csv.NewWriter(&sb)
	w.UseCRLF = true
	_ = w.Write([]string{"签到码", "状态", "预约人", "手机", "儿童", "签到时间"})
	for _, r := range rows {
		at := ""
		if r.CheckedInAt != nil {
			at = r.CheckedInAt.Format("2006-01-02 15:04")
		}
		_ = w.Write([]string{r.Code, rosterStatus[r.Status], CSVCell(r.Resident), r.Phone, CSVCell(r.Child), at})
	}
	w.Flush()
	return []byte(sb.String())
}

// csvCell defuses spreadsheet formulas in user-supplied text (=, +, -, @).
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
