DROP TABLE IF EXISTS staff_alerts;
