package models

import (
	"strings"
	"testing"
)

func TestRedactJSON(t *testing.T) {
	in := `{"phone":"13812345678","contact_phone":13900001111,"secret":"abc","emergency_contact":"妈妈 13712345678","items":[{"refresh_token":"x","name":"王小明"}]}`
	got := string(RedactJSON([]byte(in), false))
	for _, leak := range []string{"13812345678", "13900001111", `"abc"`, `"x"`, "13712345678"} {
		if strings.Contains(got, leak) {
			t.Fatalf("leaked %s in %s", leak, got)
		}
	}
	if !strings.Contains(got, "*******5678") || !strings.Contains(got, `"name":"王小明"`) {
		t.Fatalf("redaction too broad or wrong: %s", got)
	}
	// On routes about children the child's name is masked too.
	if got := string(RedactJSON([]byte(in), true)); !strings.Contains(got, `"name":"王**"`) {
		t.Fatalf("child name not masked: %s", got)
	}
	if RedactJSON([]byte("not json"), false) != nil {
		t.Fatal("non-JSON body kept")
	}
}
