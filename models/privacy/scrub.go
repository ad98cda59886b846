package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"nantian/models"
)

// What account deletion does to the traces a resident leaves outside their own
// rows (issue 14): the audit log and staff notes keep who did what, but not the
// resident's personal data.
//
//   - audit_log: every entry about the resident (its target is the resident's id,
//     or a body carries their user_id or one of their phone numbers) keeps its
//     actor, action, target, status, time and request id — the staff member's
//     accountability — while the personal fields in its request, before and
//     response bodies (names, birth dates, building and room, phones, a child's
//     allergies and emergency contact) become "[已删除]", and so does any other
//     text in them that contains one of the resident's values.
//   - complaint_events: staff notes on the resident's work orders keep their
//     words but lose the resident's values (a name, a phone typed in a note).
//   - Redis: the resident's idempotent replies (24 h of response bodies) are
//     deleted (models.Idempotency.ForgetUser).
//
// Estates are not scrubbed: one of five shared names says nothing about a person.

// Erased replaces a personal value in the audit log and staff notes.
const Erased = "[已删除]"

// personalKeys are the JSON fields that hold a person's data in this API's
// bodies; in an entry about the resident they are erased whatever their value.
var personalKeys = map[string]bool{
	"real_name": true, "nickname": true, "name": true, "birth_date": true, "building": true, "room": true,
	"phone": true, "contact_phone": true, "allergies": true, "emergency_contact": true, "rating_comment": true,
}

// personalValues are the resident's values to look for in free text: each at
// least two characters (a one-character name would match everywhere), phones
// also in the masked form the roster and the audit log print.
type personalValues []string

func collectPersonal(ex Export) personalValues {
	var out personalValues
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) < 2 || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	phone := func(s string) {
		add(s)
		if utf8.RuneCountInString(s) >= 7 {
			add(models.MaskPhone(s))
		}
	}
	pr := ex.Profile
	add(pr.RealName)
	add(pr.Nickname)
	add(pr.Room)
	if pr.Phone != nil {
		phone(*pr.Phone)
	}
	if pr.BirthDate != nil {
		add(pr.BirthDate.String())
	}
	for _, c := range ex.Children {
		add(c.Name)
		add(c.Allergies)
		add(c.EmergencyContact)
		add(c.BirthDate.String())
	}
	for _, c := range ex.Complaints {
		phone(c.ContactPhone)
	}
	return out
}

// phones are the values that identify the resident's entries by themselves.
func (v personalValues) phones() []string {
	var out []string
	for _, s := range v {
		if utf8.RuneCountInString(s) >= 7 && strings.Trim(s, "0123456789 +-*") == "" && strings.Trim(s, "*") != "" && !strings.HasPrefix(s, "*") {
			out = append(out, s)
		}
	}
	return out
}

// scrub erases the resident's values in s.
func (v personalValues) scrub(s string) string {
	for _, p := range v {
		if strings.Contains(s, p) {
			s = strings.ReplaceAll(s, p, Erased)
		}
	}
	return s
}

// scrubJSON erases personal fields and the resident's values in a JSON body; a
// body that is not JSON is scrubbed as text.
func (v personalValues) scrubJSON(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return []byte(v.scrub(string(b)))
	}
	var walk func(x any, key string) any
	walk = func(x any, key string) any {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e, k)
			}
			return t
		case []any:
			for i, e := range t {
				t[i] = walk(e, key)
			}
			return t
		case string:
			if personalKeys[key] && t != "" {
				return Erased
			}
			return v.scrub(t)
		default:
			if personalKeys[key] && t != nil {
				return Erased
			}
			return t
		}
	}
	out, err := json.Marshal(walk(doc, ""))
	if err != nil {
		return b
	}
	return out
}

// scrubTraces pseudonymises the resident's entries in audit_log and their values
// in staff notes of their complaints, inside the deletion's transaction (so a
// deletion cut short is retried whole, while the values are still known).
func scrubTraces(ctx context.Context, tx *sql.Tx, userID int64, v personalValues) error {
	uid := strconv.FormatInt(userID, 10)
	conds := []string{`target = ?`, `target LIKE ?`}
	args := []any{"id=" + uid, "id=" + uid + "&%"}
	for _, col := range []string{"request_body", "before_body", "response_body"} {
		// Compact (as written) and as MySQL 8 normalises a JSON column.
		for _, pat := range []string{`"user_id":` + uid + `,`, `"user_id":` + uid + `}`, `"user_id": ` + uid + `,`, `"user_id": ` + uid + `}`} {
			conds = append(conds, `INSTR(`+col+`, ?) > 0`)
			args = append(args, pat)
		}
		for _, p := range v.phones() {
			conds = append(conds, `INSTR(`+col+`, ?) > 0`)
			args = append(args, p)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, request_body, before_body, response_body FROM audit_log
		WHERE (`+strings.Join(conds, " OR ")+`) AND action NOT LIKE 'READ %' FOR UPDATE`, args...)
	if err != nil {
		return fmt.Errorf("find audit entries: %w", err)
	}
	type entry struct {
		id             int64
		req, bef, resp []byte
	}
	var found []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.req, &e.bef, &e.resp); err != nil {
			rows.Close()
			return fmt.Errorf("scan audit entry: %w", err)
		}
		found = append(found, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit entries: %w", err)
	}
	nullable := func(b []byte) any {
		if b == nil {
			return nil
		}
		return b
	}
	for _, e := range found {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET request_body = ?, before_body = ?, response_body = ? WHERE id = ?`,
			nullable(v.scrubJSON(e.req)), nullable(v.scrubJSON(e.bef)), nullable(v.scrubJSON(e.resp)), e.id); err != nil {
			return fmt.Errorf("scrub audit entry %d: %w", e.id, err)
		}
	}
	notes, err := tx.QueryContext(ctx, `SELECT e.id, e.note FROM complaint_events e JOIN complaints c ON c.id = e.complaint_id
		WHERE c.user_id = ? AND e.note <> '' FOR UPDATE`, userID)
	if err != nil {
		return fmt.Errorf("find staff notes: %w", err)
	}
	type note struct {
		id   int64
		text string
	}
	var ns []note
	for notes.Next() {
		var n note
		if err := notes.Scan(&n.id, &n.text); err != nil {
			notes.Close()
			return fmt.Errorf("scan staff note: %w", err)
		}
		ns = append(ns, n)
	}
	notes.Close()
	if err := notes.Err(); err != nil {
		return fmt.Errorf("staff notes: %w", err)
	}
	for _, n := range ns {
		if s := v.scrub(n.text); s != n.text {
			if _, err := tx.ExecContext(ctx, `UPDATE complaint_events SET note = ? WHERE id = ?`, s, n.id); err != nil {
				return fmt.Errorf("scrub staff note %d: %w", n.id, err)
			}
		}
	}
	return nil
}
