DROP TABLE IF EXISTS uploads;
DROP TABLE IF EXISTS complaint_events;
DROP TABLE IF EXISTS complaints;
