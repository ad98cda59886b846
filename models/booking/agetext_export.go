package booking

// AgeText says an age in months as the booking rules' messages do (30 个月,
// 35 岁), for the staff console's participant column.
func AgeText(months int) string { return ageText(months) }
