package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TableStat is one table: its exact row count, its size on disk (the
// table itself and its indexes) and the indexes it has.
type TableStat struct {
	Name       string   `json:"name"`
	Rows       int64    `json:"rows"`
	TableBytes int64    `json:"table_bytes"`
	IndexBytes int64    `json:"index_bytes"`
	Indexes    []string `json:"indexes"`
}

// Bytes is the table's size with its indexes.
func (t TableStat) Bytes() int64 { return t.TableBytes + t.IndexBytes }

// IndexStat is one index: its size and, on PostgreSQL, how often it has
// been used since the statistics were last reset (pg_stat_user_indexes).
type IndexStat struct {
	Table      string `json:"table"`
	Name       string `json:"name"`
	Bytes      int64  `json:"bytes"`
	Scans      int64  `json:"scans"`       // idx_scan (PostgreSQL)
	TuplesRead int64  `json:"tuples_read"` // idx_tup_read (PostgreSQL)
}

// LongQuery is a statement that has been running longer than
// LongQueryAfter (PostgreSQL's pg_stat_activity).
type LongQuery struct {
	PID      int           `json:"pid"`
	Duration time.Duration `json:"duration"`
	State    string        `json:"state"`
	Wait     string        `json:"wait_event,omitempty"`
	// Query is the statement's text, cut to 200 characters. This suite's
	// statements carry their values as parameters, never in the text.
	Query string `json:"query"`
}

// LongQueryAfter is the guide's threshold for a long-running query.
const LongQueryAfter = 5 * time.Second

// Stats is what `db stats` shows (and the admin console): the engine, the
// database's size on disk, every table (rows, size, indexes), every index
// (size and usage where the engine tracks it) and the long-running queries.
// These are the guides' three critical queries: long-running queries,
// table sizes and index usage, with SQLite's equivalents.
type Stats struct {
	Dialect Dialect       `json:"dialect"`
	Where   string        `json:"where"` // the file or the redacted URL
	Bytes   int64         `json:"bytes"`
	Tables  []TableStat   `json:"tables"`  // largest first
	Indexes []IndexStat   `json:"indexes"` // least used first on PostgreSQL, largest first on SQLite
	Long    []LongQuery   `json:"long_running"`
	Took    time.Duration `json:"took"`
	// IndexUsage says whether Scans and TuplesRead are tracked (PostgreSQL
	// only); LongTracked whether long-running queries can be listed
	// (SQLite runs inside the server: see db_query_duration_seconds and
	// the slow-query log instead).
	IndexUsage  bool `json:"index_usage"`
	LongTracked bool `json:"long_tracked"`
}

// Size returns the database's size on disk.
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	q := "SELECT pg_database_size(current_database())"
	if db.Dialect == SQLite {
		q = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
	}
	if err := db.r.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	return n, nil
}

// Inspect gathers Stats.
func (db *DB) Inspect(ctx context.Context) (Stats, error) {
	start := time.Now()
	st := Stats{Dialect: db.Dialect, Where: db.Target.Redacted}
	var err error
	if st.Bytes, err = db.Size(ctx); err != nil {
		return st, err
	}
	if db.Dialect == SQLite {
		err = db.inspectSQLite(ctx, &st)
	} else {
		err = db.inspectPostgres(ctx, &st)
	}
	if err != nil {
		return st, err
	}
	for i, t := range st.Tables {
		var c int64
		// Table names come from the catalogue, quoted as identifiers.
		if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+t.Name+`"`).Scan(&c); err != nil {
			return st, fmt.Errorf("count %s: %w", t.Name, err)
		}
		st.Tables[i].Rows = c
	}
	sort.SliceStable(st.Tables, func(i, j int) bool { return st.Tables[i].Bytes() > st.Tables[j].Bytes() })
	st.Took = time.Since(start)
	return st, nil
}

// inspectSQLite reads table and index sizes from the dbstat virtual table
// and each table's indexes from sqlite_master.
func (db *DB) inspectSQLite(ctx context.Context, st *Stats) error {
	sizes := map[string]int64{}
	rows, err := db.r.QueryContext(ctx, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
	if err != nil {
		return fmt.Errorf("dbstat: %w", err)
	}
	for rows.Next() {
		var n string
		var b int64
		if err := rows.Scan(&n, &b); err != nil {
			rows.Close()
			return err
		}
		sizes[n] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.r.QueryContext(ctx, `SELECT type, name, tbl_name FROM sqlite_master
		WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'
		ORDER BY type DESC, name`)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	byName := map[string]int{}
	var idx []IndexStat
	for rows.Next() {
		var typ, name, tbl string
		if err := rows.Scan(&typ, &name, &tbl); err != nil {
			rows.Close()
			return err
		}
		if typ == "table" {
			if strings.Contains(name, "_fts") {
				continue // full-text search tables and their shadow tables are left out
			}
			byName[name] = len(st.Tables)
			st.Tables = append(st.Tables, TableStat{Name: name, TableBytes: sizes[name], Indexes: []string{}})
			continue
		}
		idx = append(idx, IndexStat{Table: tbl, Name: name, Bytes: sizes[name]})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// sqlite_autoindex_* (UNIQUE and PRIMARY KEY constraints) are indexes too.
	rows, err = db.r.QueryContext(ctx, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'sqlite_autoindex_%'")
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, tbl string
		if err := rows.Scan(&name, &tbl); err != nil {
			rows.Close()
			return err
		}
		idx = append(idx, IndexStat{Table: tbl, Name: name, Bytes: sizes[name]})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range idx {
		if i, ok := byName[x.Table]; ok {
			st.Tables[i].IndexBytes += x.Bytes
			st.Tables[i].Indexes = append(st.Tables[i].Indexes, x.Name)
		}
	}
	sort.SliceStable(idx, func(i, j int) bool { return idx[i].Bytes > idx[j].Bytes })
	st.Indexes = idx
	return nil
}

// inspectPostgres runs the guides' three queries on the current schema;
// the index-usage query names pg_stat_user_indexes' real columns (relname,
// indexrelname; the guide's tablename and indexname do not exist there).
func (db *DB) inspectPostgres(ctx context.Context, st *Stats) error {
	st.IndexUsage, st.LongTracked = true, true
	rows, err := db.r.QueryContext(ctx, `SELECT c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		ORDER BY pg_total_relation_size(c.oid) DESC`)
	if err != nil {
		return fmt.Errorf("table sizes: %w", err)
	}
	byName := map[string]int{}
	for rows.Next() {
		t := TableStat{Indexes: []string{}}
		if err := rows.Scan(&t.Name, &t.TableBytes, &t.IndexBytes); err != nil {
			rows.Close()
			return err
		}
		byName[t.Name] = len(st.Tables)
		st.Tables = append(st.Tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.r.QueryContext(ctx, `SELECT relname, indexrelname, idx_scan, idx_tup_read, pg_relation_size(indexrelid)
		FROM pg_stat_user_indexes WHERE schemaname = current_schema()
		ORDER BY idx_scan ASC, indexrelname`)
	if err != nil {
		return fmt.Errorf("index usage: %w", err)
	}
	for rows.Next() {
		var x IndexStat
		if err := rows.Scan(&x.Table, &x.Name, &x.Scans, &x.TuplesRead, &x.Bytes); err != nil {
			rows.Close()
			return err
		}
		st.Indexes = append(st.Indexes, x)
		if i, ok := byName[x.Table]; ok {
			st.Tables[i].Indexes = append(st.Tables[i].Indexes, x.Name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range st.Tables {
		sort.Strings(st.Tables[i].Indexes)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT pid, EXTRACT(EPOCH FROM now() - query_start)::float8, state,
			COALESCE(wait_event_type || ':' || wait_event, ''), left(query, 200)
		FROM pg_stat_activity
		WHERE state = 'active' AND now() - query_start > make_interval(secs => $1)
			AND pid <> pg_backend_pid() AND datname = current_database()
		ORDER BY query_start`, LongQueryAfter.Seconds())
	if err != nil {
		return fmt.Errorf("long-running queries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var q LongQuery
		var secs float64
		if err := rows.Scan(&q.PID, &secs, &q.State, &q.Wait, &q.Query); err != nil {
			return err
		}
		q.Duration = time.Duration(secs * float64(time.Second))
		st.Long = append(st.Long, q)
	}
	return rows.Err()
}
