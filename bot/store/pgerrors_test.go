package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// What the server answers about a refused login, as an operator reads it:
// the trust-auth server the tests use never asks for a password, so the
// server's answers are made up here.
func TestPostgresLoginErrorsExplained(t *testing.T) {
	cfg := &pgconn.Config{Host: "db.internal", Port: 5432, User: "bindtester", Database: "bindtester", Password: "s3cretpw"}
	for _, c := range []struct {
		code string
		want []string
	}{
		{"28P01", []string{"refused the password", `"bindtester"`, "BINDTESTER_DB"}},
		{"28000", []string{"does not let user", "pg_hba.conf"}},
		{"3D000", []string{`database "bindtester" does not exist`, "createdb bindtester"}},
		{"53300", []string{"too many clients", "SQLSTATE 53300"}},
	} {
		err := pgOpenError(cfg, pgName(cfg), fmt.Errorf("connect: %w", &pgconn.PgError{Code: c.code, Message: map[string]string{
			"28P01": "password authentication failed", "28000": "no pg_hba.conf entry", "3D000": "database does not exist", "53300": "sorry, too many clients already",
		}[c.code]}))
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("SQLSTATE %s: %v; want %q", c.code, err, w)
			}
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("SQLSTATE %s: the password is shown: %v", c.code, err)
		}
	}
}
