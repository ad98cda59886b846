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
