package console

// navItem is one entry of the top navigation. Key is its Alt+key shortcut.
type navItem struct {
	ID, Label, Href, Key string
	AdminOnly            bool
}

// nav is the console's navigation, in desk order. A new page adds its entry
// here (and its routes in routesJourneys).
var nav = []navItem{
	{ID: "today", Label: "今日", Href: "/console/", Key: "1"},
	{ID: "approvals", Label: "预约审核", Href: "/console/approvals", Key: "2"},
	{ID: "sessions", Label: "场次签到", Href: "/console/sessions", Key: "3"},
	{ID: "programs", Label: "项目", Href: "/console/programs", Key: "4"},
	{ID: "complaints", Label: "民意速办", Href: "/console/complaints", Key: "5"},
	{ID: "points", Label: "积分兑换", Href: "/console/points", Key: "6"},
	{ID: "reports", Label: "报表", Href: "/console/reports", Key: "7"},
	{ID: "imports", Label: "导入", Href: "/console/imports", Key: "8"},
	{ID: "admin", Label: "用户", Href: "/console/admin/users", Key: "9", AdminOnly: true},
	{ID: "audit", Label: "审计", Href: "/console/admin/audit", Key: "0", AdminOnly: true},
}

func navFor(isAdmin bool) []navItem {
	out := make([]navItem, 0, len(nav))
	for _, n := range nav {
		if !n.AdminOnly || isAdmin {
			out = append(out, n)
		}
	}
	return out
}
