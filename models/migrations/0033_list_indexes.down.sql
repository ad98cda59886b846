ALTER TABLE users
    DROP KEY idx_users_walkin_names,
    DROP KEY idx_users_walkins;

ALTER TABLE complaints
    DROP KEY idx_complaints_category_estate,
    DROP KEY idx_complaints_estate,
    DROP KEY idx_complaints_category,
    DROP KEY idx_complaints_review,
    DROP KEY idx_complaints_open,
    DROP COLUMN is_open;
