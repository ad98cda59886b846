package booking

import "testing"

func TestAgeBandReadsLikeTheCenterWrites(t *testing.T) {
	p := func(v int) *int { return &v }
	for _, c := range []struct {
		min, max *int
		want     string
	}{
		{p(18), p(36), "18–36 个月"},
		{p(60), p(144), "5–12 岁"},
		{p(18), p(48), "18–48 个月"},
		{p(720), nil, "60 岁及以上"},
		{nil, p(30), "30 个月及以下"},
		{nil, nil, "不限"},
	} {
		if got := ageBand(c.min, c.max); got != c.want {
			t.Errorf("ageBand(%v, %v) = %q, want %q", c.min, c.max, got, c.want)
		}
	}
	for months, want := range map[int]string{0: "0 个月", 23: "23 个月", 24: "2 岁", 425: "35 岁"} {
		if got := ageText(months); got != want {
			t.Errorf("ageText(%d) = %q, want %q", months, got, want)
		}
	}
}
