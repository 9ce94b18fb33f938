package goose

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/safedeploy/safedeploy/internal/sqltext"

	pressly "github.com/pressly/goose/v3"
)

// A plan is what goose does to apply one SQL migration: its Up statements,
// as goose's parser splits them, and whether it runs them in a transaction.
type plan struct {
	statements []string
	tx         bool
}

// analyze returns the plan for the SQL migration file named name with the
// given contents. Goose's parser is internal to goose, so analyze asks
// goose itself: it applies the one file, without versioning, to a database
// that records what it is asked to run instead of running it.
func analyze(dialect pressly.Dialect, name string, contents []byte) (plan, error) {
	rec := &recorder{}
	db := sql.OpenDB(recorderConnector{rec})
	defer db.Close()
	fsys := fstest.MapFS{path.Base(name): {Data: contents}}
	p, err := pressly.NewProvider(dialect, db, fsys,
		pressly.WithDisableVersioning(true),
		pressly.WithDisableGlobalRegistry(true),
		pressly.WithLogger(pressly.NopLogger()),
	)
	if err != nil {
		return plan{}, err
	}
	srcs := p.ListSources()
	if len(srcs) != 1 {
		return plan{}, fmt.Errorf("%s is not a goose migration file name (NUMBER_name.sql)", name)
	}
	if _, err := p.ApplyVersion(context.Background(), srcs[0].Version, true); err != nil {
		var pe *pressly.PartialError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return plan{}, err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return plan{statements: rec.statements, tx: rec.tx}, nil
}

// recorder is a database/sql driver that records statements and runs none.
type recorder struct {
	mu         sync.Mutex
	statements []string
	tx         bool
}

type recorderConnector struct{ rec *recorder }

func (c recorderConnector) Connect(context.Context) (driver.Conn, error) {
	return recorderConn(c), nil
}

func (c recorderConnector) Driver() driver.Driver { return recorderDriver{} }

type recorderDriver struct{}

func (recorderDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("recorder: open by name is not supported")
}

type recorderConn struct{ rec *recorder }

func (c recorderConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("recorder: prepared statements are not supported")
}

func (c recorderConn) Close() error { return nil }

func (c recorderConn) Begin() (driver.Tx, error) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	c.rec.tx = true
	return recorderTx{}, nil
}

func (c recorderConn) ExecContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Result, error) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	c.rec.statements = append(c.rec.statements, query)
	return driver.RowsAffected(0), nil
}

type recorderTx struct{}

func (recorderTx) Commit() error   { return nil }
func (recorderTx) Rollback() error { return nil }

// sessionOnly reports whether stmt only changes session settings (SET or
// RESET), so that running it again is harmless. It reads the first keyword
// after any comments; it does not parse SQL.
func sessionOnly(stmt string) bool {
	switch strings.ToUpper(firstWord(stmt)) {
	case "SET", "RESET":
		return true
	}
	return false
}

// firstWord returns the first word of stmt after white space and SQL
// comments ("-- …" to the end of the line, "/* … */", nested as in
// Postgres).
func firstWord(stmt string) string {
	s := stmt[sqltext.SkipSpace(stmt, 0):]
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	})
	if end < 0 {
		return s
	}
	return s[:end]
}

// The recorder implements what database/sql needs from a driver.
var (
	_ driver.Connector     = recorderConnector{}
	_ driver.ExecerContext = recorderConn{}
)
