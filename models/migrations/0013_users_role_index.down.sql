ALTER TABLE users DROP KEY idx_users_role_status;
