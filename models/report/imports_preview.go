package report

import "context"

// PreviewImport says what ImportSessions would do with rows now — how many are
// new and how many were imported before (or repeat in the file) — without
// writing anything, so staff can look before they commit. The commit counts
// again under its lock; the preview is advice.
func (s *Imports) PreviewImport(ctx context.Context, rows []ImportRow) (ImportResult, error) {
	seen, err := existingHashes(ctx, s.DB, rows)
	if err != nil {
		return ImportResult{}, err
	}
	var out ImportResult
	for _, r := range rows {
		h := r.Hash()
		if seen[h] {
			out.SkippedDuplicates++
			continue
		}
		seen[h] = true
		out.Imported++
	}
	return out, nil
}
