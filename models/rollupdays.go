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
