-- Staff lists at district size (issue 15): each list filter gets an index whose
-- columns are the filter's equalities followed by the list's order (id), so a
-- page is read by walking that index and stopping after LIMIT rows, instead of
-- reading every match and sorting it. The plan test (server/plans_test.go)
-- EXPLAINs every staff list and fails when one of these stops being used.

-- 民意速办 queue. is_open is the "still being handled" half of overdueSQL, as a
-- column so it can be indexed: ?overdue=true reads open work orders newest first
-- (idx_complaints_open) and checks their due times, however many closed ones
-- years of history hold. VIRTUAL: computed on read, stored only in the index.
ALTER TABLE complaints
    ADD COLUMN is_open TINYINT(1) AS (status IN ('submitted','reopened','accepted','contacted')) VIRTUAL,
    ADD KEY idx_complaints_open (is_open, id),
    ADD KEY idx_complaints_review (needs_review, id),
    ADD KEY idx_complaints_category (category, id),
    ADD KEY idx_complaints_estate (estate, id),
    ADD KEY idx_complaints_category_estate (category, estate, id);

-- Walk-in residents (openid NULL, not merged): the desk's list by id
-- (InnoDB appends the primary key, so this is (openid, merged_into, id)), and the
-- name-prefix search over walk-ins only, not over every resident's name.
ALTER TABLE users
    ADD KEY idx_users_walkins (openid, merged_into),
    ADD KEY idx_users_walkin_names (openid, merged_into, real_name);
