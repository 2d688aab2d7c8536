package store

import (
	"context"
	"fmt"
)

// TableStat is one table's row count.
type TableStat struct {
	Name string
	Rows int64
}

// Stats is what `db stats` shows: the engine, the database's size on disk
// and every table with its exact row count.
type Stats struct {
	Dialect Dialect
	Where   string // the file or the redacted URL
	Bytes   int64
	Tables  []TableStat
}

// Inspect counts every table's rows and measures the database.
func (db *DB) Inspect(ctx context.Context) (Stats, error) {
	st := Stats{Dialect: db.Dialect, Where: db.Target.Redacted}
	var q string
	switch db.Dialect {
	case SQLite:
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_fts%' ORDER BY name"
		if err := db.r.QueryRowContext(ctx, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&st.Bytes); err != nil {
			return st, fmt.Errorf("database size: %w", err)
		}
	default:
		q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
		if err := db.r.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&st.Bytes); err != nil {
			return st, fmt.Errorf("database size: %w", err)
		}
	}
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return st, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return st, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	for _, n := range names {
		var c int64
		// Table names come from the catalogue, quoted as identifiers.
		if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+n+`"`).Scan(&c); err != nil {
			return st, fmt.Errorf("count %s: %w", n, err)
		}
		st.Tables = append(st.Tables, TableStat{Name: n, Rows: c})
	}
	return st, nil
}
