package report

import "context"

// PreviewImport says what ImportSessions would do with rows now — how many are
// new and how many were imported before (or repeat in the file) — without
// writing anything, so staff can look before they commit. The commit counts
// again under its lock; the preview is advice.
func (s *Imports) PreviewImport(ctx context.Context, rows []ImportRow) (ImportResult, error) {
	fresh, skipped, err := newRows(ctx, s.DB, rows)
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Imported: len(fresh), SkippedDuplicates: skipped}, nil
}
