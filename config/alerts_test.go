package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestStaffAlertSettings(t *testing.T) {
	const key = "0a1b2c3d-secret-robot-key"
	c, err := Load(env(map[string]string{"WECOM_ROBOT_WEBHOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.AcceptLead.Minutes() != 3 || c.Alerts.ContactLead.Minutes() != 10 || c.Alerts.ResolveLead.Hours() != 2 {
		t.Fatalf("default leads: %+v", c.Alerts)
	}
	if s := fmt.Sprintf("%+v %v", c, c.LogValue()); strings.Contains(s, key) {
		t.Fatal("the robot key is printed with the config")
	}
	for name, e := range map[string]map[string]string{
		"no key":     {"WECOM_ROBOT_WEBHOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"},
		"not a URL":  {"WECOM_ROBOT_WEBHOOK": "qyapi/" + key},
		"zero lead":  {"WECOM_ROBOT_WEBHOOK": "https://q/x?key=" + key, "WECOM_ALERT_ACCEPT_LEAD": "0s"},
		"bad link":   {"WECOM_ROBOT_WEBHOOK": "https://q/x?key=" + key, "WECOM_ALERT_CONSOLE_URL": "console.example"},
		"http prod":  {"WECOM_ROBOT_WEBHOOK": "http://q/x?key=" + key, "APP_ENV": "production"},
		"typo'd dur": {"WECOM_ALERT_POLL_EVERY": "soon"},
	} {
		_, err := Load(env(e))
		if err == nil || !strings.Contains(err.Error(), "WECOM_") {
			t.Errorf("%s: %v, want a WECOM_ error", name, err)
		} else if strings.Contains(err.Error(), key) {
			t.Errorf("%s: error quotes the key: %v", name, err)
		}
	}
}
