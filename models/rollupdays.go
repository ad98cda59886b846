package models

import "time"

// RollupOffset is the UTC offset the report rollup triggers cut local days at
// (DATE(ts + INTERVAL 8 HOUR), migrations 0028 and 0034): Asia/Shanghai, the
// community's zone, which has had no daylight saving time since 1991.
const RollupOffset = 8 * 60 * 60

// RollupDaysFit reports whether the rollups' days are the local days of loc over
// [from, to): loc is UTC+8 there with no change of offset. Otherwise a report is
// computed from the raw tables.
func RollupDaysFit(loc *time.Location, from, to time.Time) bool {
	t := from.In(loc)
	if _, off := t.Zone(); off != RollupOffset {
		return false
	}
	_, end := t.ZoneBounds()
	return end.IsZero() || !end.Before(to)
}

// CeilMillisecond rounds t up to the next whole millisecond (t itself when it is
// one). Stored instants are DATETIME(3), so for any stored x, x < t exactly when
// x < CeilMillisecond(t), and x >= t when x >= CeilMillisecond(t): the bound can
// be sent instead of t. It must be: the MySQL driver sends a time.Time as a
// string with nine fractional digits when it has nanoseconds, which MariaDB
// does not take as a range bound on a DATETIME index (a session list "ended by
// now" then read every session after midnight, future ones included).
func CeilMillisecond(t time.Time) time.Time {
	c := t.Truncate(time.Millisecond)
	if c.Before(t) {
		c = c.Add(time.Millisecond)
	}
	return c
}
