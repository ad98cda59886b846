package config

import (
	"strings"
	"testing"
	"time"
)

// Both statement limits default below the driver's read timeout, and a limit at
// or past the read timeout of either DSN is refused with the variable's name:
// the driver would give up first and leave the statement running.
func TestStatementLimitsBelowReadTimeout(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.StatementTimeout != 5*time.Second || c.Database.TxStatementTimeout != 8*time.Second {
		t.Fatalf("defaults: statement %s, in transactions %s; want 5s and 8s", c.Database.StatementTimeout, c.Database.TxStatementTimeout)
	}
	longRead := "root:@tcp(127.0.0.1:3306)/nantian?readTimeout=20s"
	shortRead := "root:@tcp(127.0.0.1:3306)/nantian?readTimeout=5s"
	for _, tc := range []struct {
		name   string
		env    map[string]string
		refuse string // "" accepted; else a word the error must carry
	}{
		{"tx limit off", map[string]string{"MYSQL_TX_STATEMENT_TIMEOUT": "0"}, ""},
		{"tx limit at the read timeout", map[string]string{"MYSQL_TX_STATEMENT_TIMEOUT": "10s"}, "MYSQL_TX_STATEMENT_TIMEOUT"},
		{"tx limit negative", map[string]string{"MYSQL_TX_STATEMENT_TIMEOUT": "-1s"}, "MYSQL_TX_STATEMENT_TIMEOUT"},
		{"tx limit under a longer read timeout", map[string]string{"MYSQL_DSN": longRead, "MYSQL_TX_STATEMENT_TIMEOUT": "15s"}, ""},
		{"tx limit past the replica's read timeout", map[string]string{"MYSQL_REPLICA_DSN": shortRead}, "MYSQL_REPLICA_DSN"},
		{"statement limit at the read timeout", map[string]string{"MYSQL_STATEMENT_TIMEOUT": "10s", "MYSQL_TX_STATEMENT_TIMEOUT": "0"}, "MYSQL_STATEMENT_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			switch {
			case tc.refuse == "" && err != nil:
				t.Fatalf("refused %v: %v", tc.env, err)
			case tc.refuse != "" && err == nil:
				t.Fatalf("accepted %v", tc.env)
			case tc.refuse != "" && !strings.Contains(err.Error(), tc.refuse):
				t.Fatalf("%v: error %q does not name %s", tc.env, err, tc.refuse)
			}
		})
	}
}
