package catalog

import (
	"context"
	"fmt"
	"time"
)

// demoProgram is one entry of the 南天社区 catalogue from the 2024 annual report.
type demoProgram struct {
	in       ProgramInput
	capacity int
	// slots: weekday offsets and local start/end clock times of the sessions.
	weeks    int
	weekdays []time.Weekday
	start    [2]int // hour, minute
	minutes  int
}

func ptr[T any](v T) *T { return &v }

func demoCatalogue() []demoProgram {
	center := "党群服务中心"
	night := func(title, cat, desc string, fee int64, wd time.Weekday, audience string, minAge, maxAge *int) demoProgram {
		return demoProgram{
			in: ProgramInput{Kind: KindNightSchool, Title: "青年夜校·" + title, Category: cat, Description: desc,
				Audience: audience, Venue: center + "多功能室", FeeFen: ptr(fee), MinAgeMonths: minAge, MaxAgeMonths: maxAge},
			capacity: 20, weeks: 4, weekdays: []time.Weekday{wd}, start: [2]int{19, 0}, minutes: 120,
		}
	}
	activity := func(title, cat, audience, venue string, wd []time.Weekday, h, m, minutes, capacity int, minAge *int) demoProgram {
		in := ProgramInput{Kind: KindActivity, Title: title, Category: cat, Audience: audience, Venue: venue, FeeFen: ptr(int64(0)), MinAgeMonths: minAge, Description: title + "，南天社区党群服务中心组织，免费参加。"}
		if audience == AudienceChildren {
			in.MaxAgeMonths = ptr(144) // children's activities are for children: an adult booking as themselves is not eligible
		}
		return demoProgram{
			in:       in,
			capacity: capacity, weeks: 3, weekdays: wd, start: [2]int{h, m}, minutes: minutes,
		}
	}
	kid := ptr(60)     // 5 years
	kidMax := ptr(144) // 12 years
	elder := ptr(720)  // 60 years
	return []demoProgram{
		night("PBL木工", "手工", "项目式木工课，亲手做一件小家具。", 6000, time.Monday, AudienceYouth, nil, nil),
		night("粤语", "语言", "从日常对话学粤语。", 5000, time.Tuesday, AudienceYouth, nil, nil),
		night("爵士舞", "舞蹈", "零基础爵士舞。", 6000, time.Wednesday, AudienceYouth, nil, nil),
		night("美妆", "生活美学", "日常妆容与护肤。", 6000, time.Thursday, AudienceYouth, nil, nil),
		night("形象美学", "生活美学", "穿搭与形象管理。", 6000, time.Friday, AudienceYouth, nil, nil),
		night("中国舞", "舞蹈", "古典舞基本功与组合。", 6000, time.Saturday, AudienceYouth, nil, nil),
		night("中医养生", "健康", "四季养生与穴位保健。", 5000, time.Sunday, AudienceAll, nil, nil),
		night("少儿硬笔", "书法", "少儿硬笔书法。", 4000, time.Tuesday, AudienceChildren, kid, kidMax),
		night("少儿美术", "美术", "少儿创意美术。", 4000, time.Thursday, AudienceChildren, kid, kidMax),
		{
			in: ProgramInput{Kind: KindChildcare, Title: "托育·临时托", Category: "托育", Audience: AudienceChildren,
				Venue: center + "托育室", FeeFen: ptr(int64(0)), Description: "18–36 个月幼儿临时托，每时段 12 个名额，需监护人同意保存儿童信息。"},
			capacity: 12, weeks: 2, weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			start: [2]int{9, 0}, minutes: 180,
		},
		activity("长者声乐班", "声乐", AudienceElderly, center+"活动室", []time.Weekday{time.Monday, time.Thursday}, 9, 30, 90, 30, elder),
		activity("长者书画班", "书画", AudienceElderly, center+"书画室", []time.Weekday{time.Tuesday, time.Friday}, 9, 30, 90, 25, elder),
		activity("少儿阅读会", "阅读", AudienceChildren, "少儿图书馆", []time.Weekday{time.Saturday}, 10, 0, 90, 20, kid),
		activity("少儿围棋", "围棋", AudienceChildren, "邻里之家", []time.Weekday{time.Saturday}, 14, 0, 90, 16, kid),
		activity("少儿书法", "书法", AudienceChildren, center+"书画室", []time.Weekday{time.Sunday}, 10, 0, 90, 16, kid),
		activity("少儿体育", "体育", AudienceChildren, "南天二花园党群服务微站", []time.Weekday{time.Sunday}, 15, 0, 90, 24, kid),
		activity("健康义诊", "健康", AudienceAll, center+"大厅", []time.Weekday{time.Wednesday}, 9, 0, 180, 60, nil),
		activity("义剪推拿", "便民", AudienceElderly, center+"大厅", []time.Weekday{time.Friday}, 14, 30, 120, 30, nil),
		activity("党员政治生日会", "党建", AudienceAll, center+"会议室", []time.Weekday{time.Thursday}, 15, 0, 90, 40, nil),
	}
}

// SeedDemo loads the 南天社区 demo catalogue with sessions over the coming weeks.
// It is idempotent: a program whose title already exists is left alone.
func SeedDemo(ctx context.Context, c *Catalog) (created int, err error) {
	now := c.Now().In(c.Loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, c.Loc)
	for _, d := range demoCatalogue() {
		var exists int
		if err := c.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM programs WHERE title = ?`, d.in.Title).Scan(&exists); err != nil {
			return created, fmt.Errorf("check program %s: %w", d.in.Title, err)
		}
		if exists > 0 {
			continue
		}
		p, err := c.CreateProgram(ctx, d.in)
		if err != nil {
			return created, fmt.Errorf("seed program %s: %w", d.in.Title, err)
		}
		created++
		for day := 1; day <= d.weeks*7; day++ {
			date := today.AddDate(0, 0, day)
			match := false
			for _, wd := range d.weekdays {
				match = match || date.Weekday() == wd
			}
			if !match {
				continue
			}
			starts := time.Date(date.Year(), date.Month(), date.Day(), d.start[0], d.start[1], 0, 0, c.Loc)
			slots := []time.Time{starts}
			if d.in.Kind == KindChildcare { // morning and afternoon slots
				slots = append(slots, starts.Add(5*time.Hour))
			}
			for _, st := range slots {
				if _, err := c.CreateSession(ctx, p.ID, SessionInput{
					StartsAt: st, EndsAt: st.Add(time.Duration(d.minutes) * time.Minute), Capacity: d.capacity,
				}); err != nil {
					return created, fmt.Errorf("seed session of %s: %w", d.in.Title, err)
				}
			}
		}
	}
	return created, nil
}
