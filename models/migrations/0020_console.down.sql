DROP TABLE IF EXISTS console_sessions;
DROP TABLE IF EXISTS console_tickets;
