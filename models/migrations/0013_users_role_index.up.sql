-- The last-admin guard (guardLastAdmin) locks the active admins' rows with
-- SELECT ... WHERE role = 'admin' AND status = 'active' FOR UPDATE. Without an
-- index InnoDB locks every users row it scans, i.e. the whole table, for the
-- length of a role change or an account deletion; with it, only the admins.
ALTER TABLE users ADD KEY idx_users_role_status (role, status);
