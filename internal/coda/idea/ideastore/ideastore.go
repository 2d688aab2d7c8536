// Package ideastore keeps ideas in SQL: SQLite (with an FTS5 index for
// search) or PostgreSQL (a generated tsvector column, websearch_to_tsquery
// and ts_headline). It speaks only in the idea package's types.
package ideastore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
)

// Store is the SQL idea store.
type Store struct {
	db *store.DB
	// group shares commits among concurrent inserts (store.Group): one
	// transaction, or on PostgreSQL one statement, for all of them.
	group store.Group[*insertReq]
}

// maxLeaders is how many group commits may run at once: one on SQLite
// (one writer), a few on PostgreSQL so a request rarely waits a whole
// commit for the one before it.
func maxLeaders(d store.Dialect) int {
	if d == store.Postgres {
		return 4
	}
	return 1
}

type insertReq struct {
	it  idea.Idea
	err error
}

var _ idea.Store = (*Store)(nil)

// New returns a Store on db (migrated with Coda's migrations).
func New(db *store.DB) *Store {
	s := &Store{db: db}
	s.group.Commit, s.group.MaxLeaders = s.commitGroup, maxLeaders(db.Dialect)
	return s
}

// eachBatch is how many ideas Each reads per query.
const eachBatch = 500

const columns = `id, user_id, title, body, tags, version, created_at, updated_at, deleted_at, undo_expires_at`

// querier is what both store.DB and store.Tx offer.
type querier interface {
	Exec(ctx context.Context, q string, a ...any) (sql.Result, error)
	QueryRow(ctx context.Context, q string, a ...any) *sql.Row
}

type scanner interface{ Scan(...any) error }

func scanIdea(row scanner, extra ...any) (idea.Idea, error) {
	var (
		it       idea.Idea
		tags     string
		del, exp sql.NullTime
	)
	dst := append([]any{&it.ID, &it.UserID, &it.Title, &it.Body, &tags, &it.Version, &it.CreatedAt, &it.UpdatedAt, &del, &exp}, extra...)
	if err := row.Scan(dst...); err != nil {
		return idea.Idea{}, err
	}
	if err := json.Unmarshal([]byte(tags), &it.Tags); err != nil {
		return idea.Idea{}, fmt.Errorf("idea %s tags: %w", it.ID, err)
	}
	it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
	if del.Valid {
		t := del.Time.UTC()
		it.DeletedAt = &t
	}
	if exp.Valid {
		t := exp.Time.UTC()
		it.UndoExpiresAt = &t
	}
	return it, nil
}

func notFound() error { return apperr.E(apperr.NotFound, "No such idea.") }

func tagsJSON(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// insert writes one idea and its tags.
func insert(ctx context.Context, q querier, it idea.Idea) error {
	_, err := q.Exec(ctx, `INSERT INTO ideas (id, user_id, title, body, tags, version, content_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		it.ID, it.UserID, it.Title, it.Body, tagsJSON(it.Tags), it.Version, idea.ContentHash(it.Title, it.Body, it.Tags), it.CreatedAt, it.UpdatedAt)
	if err != nil {
		if store.IsUniqueViolation(err) {
			return apperr.E(apperr.Conflict, "An idea with this ID already exists.")
		}
		return fmt.Errorf("insert idea: %w", err)
	}
	return writeTags(ctx, q, it.ID, it.UserID, it.Tags)
}

func writeTags(ctx context.Context, q querier, id, userID string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO idea_tags (idea_id, user_id, tag) VALUES ")
	args := make([]any, 0, 3*len(tags))
	for i, t := range tags {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, id, userID, t)
	}
	if _, err := q.Exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("insert idea tags: %w", err)
	}
	return nil
}

// Insert stores a new idea; concurrent inserts share a commit.
func (s *Store) Insert(ctx context.Context, it idea.Idea) error {
	r := &insertReq{it: it}
	s.group.Do(ctx, r)
	return r.err
}

// commitGroup writes a batch of inserts in one transaction: first as two
// multi-row statements; if that fails (say, one ID is taken), row by row
// with a savepoint each, so every insert gets its own result.
func (s *Store) commitGroup(ctx context.Context, batch []*insertReq) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ideas := make([]idea.Idea, len(batch))
	for i, r := range batch {
		ideas[i] = r.it
	}
	var err error
	if s.db.Dialect == store.Postgres {
		// One statement in its own implicit transaction: one round trip
		// and one WAL flush, where BEGIN, two INSERTs and COMMIT took four.
		err = insertManyPostgres(ctx, s.db, ideas)
	} else {
		err = s.db.InTx(ctx, func(tx *store.Tx) error { return insertMany(ctx, tx, ideas) })
	}
	if err != nil && len(batch) > 1 {
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			for _, r := range batch {
				if _, err := tx.Exec(ctx, "SAVEPOINT idea_insert"); err != nil {
					return err
				}
				if r.err = insert(ctx, tx, r.it); r.err != nil {
					if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT idea_insert"); err != nil {
						return err
					}
				}
				if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT idea_insert"); err != nil {
					return err
				}
			}
			return nil
		})
	} else if err != nil {
		batch[0].err = err
	}
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err = err
		}
	}
}

// insertMany writes several ideas and their tags in two statements.
func insertMany(ctx context.Context, q querier, ideas []idea.Idea) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO ideas (id, user_id, title, body, tags, version, content_hash, created_at, updated_at) VALUES `)
	args := make([]any, 0, 9*len(ideas))
	var tags []any
	for i, it := range ideas {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, it.ID, it.UserID, it.Title, it.Body, tagsJSON(it.Tags), it.Version, idea.ContentHash(it.Title, it.Body, it.Tags), it.CreatedAt, it.UpdatedAt)
		for _, t := range it.Tags {
			tags = append(tags, it.ID, it.UserID, t)
		}
	}
	if _, err := q.Exec(ctx, b.String(), args...); err != nil {
		if store.IsUniqueViolation(err) {
			return apperr.E(apperr.Conflict, "An idea with this ID already exists.")
		}
		return fmt.Errorf("insert ideas: %w", err)
	}
	if len(tags) == 0 {
		return nil
	}
	b.Reset()
	b.WriteString("INSERT INTO idea_tags (idea_id, user_id, tag) VALUES ")
	for i := 0; i < len(tags)/3; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
	}
	if _, err := q.Exec(ctx, b.String(), tags...); err != nil {
		return fmt.Errorf("insert idea tags: %w", err)
	}
	return nil
}

// insertManyPostgres writes several ideas and their tags in one
// statement: the tags' INSERT reads the ideas' from a data-modifying WITH,
// and the tags' foreign key is checked at the end of the statement, when
// both are in.
func insertManyPostgres(ctx context.Context, q querier, ideas []idea.Idea) error {
	var b strings.Builder
	b.WriteString(`WITH i AS (INSERT INTO ideas (id, user_id, title, body, tags, version, content_hash, created_at, updated_at) VALUES `)
	args := make([]any, 0, 9*len(ideas))
	var tags []any
	for i, it := range ideas {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, it.ID, it.UserID, it.Title, it.Body, tagsJSON(it.Tags), it.Version, idea.ContentHash(it.Title, it.Body, it.Tags), it.CreatedAt, it.UpdatedAt)
		for _, t := range it.Tags {
			tags = append(tags, it.ID, it.UserID, t)
		}
	}
	b.WriteString(" RETURNING 1)")
	if len(tags) == 0 {
		b.WriteString(" SELECT count(*) FROM i")
	} else {
		b.WriteString(" INSERT INTO idea_tags (idea_id, user_id, tag) VALUES ")
		for i := 0; i < len(tags)/3; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?)")
		}
		args = append(args, tags...)
	}
	if _, err := q.Exec(ctx, b.String(), args...); err != nil {
		if store.IsUniqueViolation(err) {
			return apperr.E(apperr.Conflict, "An idea with this ID already exists.")
		}
		return fmt.Errorf("insert ideas: %w", err)
	}
	return nil
}

// Get returns a live idea of the user.
func (s *Store) Get(ctx context.Context, userID, id string) (idea.Idea, error) {
	it, err := scanIdea(s.db.QueryRow(ctx, `SELECT `+columns+` FROM ideas WHERE id = ? AND user_id = ? AND deleted_at IS NULL`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return idea.Idea{}, notFound()
	}
	if err != nil {
		return idea.Idea{}, fmt.Errorf("get idea: %w", err)
	}
	return it, nil
}

// cursor is a decoded page cursor: a keyset position (newest-first lists)
// or an offset (search results, which are ordered by rank).
type cursor struct {
	at     time.Time
	id     string
	offset int
}

func encodeKeyset(it idea.Idea) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k|" + it.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + it.ID))
}

func encodeOffset(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o|" + strconv.Itoa(n)))
}

func decodeCursor(s string) (cursor, error) {
	bad := apperr.InvalidFields("The page cursor is not valid.", map[string]string{"cursor": "is not a cursor this server gave out"})
	if s == "" {
		return cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.Split(string(b), "|")
	switch {
	case len(parts) == 3 && parts[0] == "k":
		t, err := time.Parse(time.RFC3339Nano, parts[1])
		if err != nil {
			return cursor{}, bad
		}
		return cursor{at: t.UTC(), id: parts[2]}, nil
	case len(parts) == 2 && parts[0] == "o":
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 0 {
			return cursor{}, bad
		}
		return cursor{offset: n}, nil
	}
	return cursor{}, bad
}

// ftsQuery turns what a person types into an FTS5 query: each word a
// quoted string, all required, so FTS5 syntax in the input is inert.
// A NUL ends an FTS5 string early ("unterminated string") and other
// control characters mean nothing in a search, so they split words.
func ftsQuery(q string) string {
	q = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(q, " "))
	var terms []string
	for _, w := range strings.Fields(q) {
		w = strings.Trim(w, `"'`)
		if w == "" || w == "-" {
			continue
		}
		terms = append(terms, `"`+strings.ReplaceAll(w, `"`, `""`)+`"`)
	}
	return strings.Join(terms, " ")
}

// List returns a page of the user's live ideas.
func (s *Store) List(ctx context.Context, userID string, o idea.ListOptions) (idea.Page, error) {
	c, err := decodeCursor(o.Cursor)
	if err != nil {
		return idea.Page{}, err
	}
	if o.Query != "" {
		return s.search(ctx, userID, o, c)
	}
	q := `SELECT ` + columns + ` FROM ideas WHERE user_id = ? AND deleted_at IS NULL`
	args := []any{userID}
	if o.Tag != "" {
		q += ` AND id IN (SELECT idea_id FROM idea_tags WHERE user_id = ? AND tag = ?)`
		args = append(args, userID, o.Tag)
	}
	if c.id != "" {
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, c.at, c.at, c.id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, o.Limit+1)
	ideas, err := s.query(ctx, q, args)
	if err != nil {
		return idea.Page{}, fmt.Errorf("list ideas: %w", err)
	}
	p := idea.Page{Ideas: ideas}
	if len(ideas) > o.Limit {
		p.Ideas = ideas[:o.Limit]
		p.Next = encodeKeyset(p.Ideas[o.Limit-1])
	}
	return p, nil
}

func (s *Store) query(ctx context.Context, q string, args []any, extra ...func() []any) ([]idea.Idea, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idea.Idea
	for rows.Next() {
		var dst []any
		if len(extra) > 0 {
			dst = extra[0]()
		}
		it, err := scanIdea(rows, dst...)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// search ranks matches: SQLite by bm25 with the title weighted ten times
// the body, PostgreSQL by ts_rank over a tsvector that weights the title A
// and the body B; ties go to the newer idea.
func (s *Store) search(ctx context.Context, userID string, o idea.ListOptions, c cursor) (idea.Page, error) {
	var (
		q    string
		args []any
	)
	tagFilter := ""
	if s.db.Dialect == store.Postgres {
		if o.Tag != "" {
			tagFilter = ` AND i.id IN (SELECT idea_id FROM idea_tags WHERE user_id = ? AND tag = ?)`
		}
		// Rank and page first, then build headlines for that page only.
		q = `SELECT ` + prefixed("r.") + `,
			ts_headline('english', r.title, r.q, 'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', HighlightAll=true'),
			ts_headline('english', r.body, r.q, 'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
			FROM (SELECT i.*, q, ts_rank(i.search, q) AS rank
				FROM ideas i, websearch_to_tsquery('english', ?) q
				WHERE i.user_id = ? AND i.deleted_at IS NULL AND i.search @@ q` + tagFilter + `
				ORDER BY rank DESC, i.created_at DESC, i.id DESC LIMIT ? OFFSET ?) r
			ORDER BY r.rank DESC, r.created_at DESC, r.id DESC`
		args = []any{o.Query, userID}
	} else {
		fq := ftsQuery(o.Query)
		if fq == "" {
			return idea.Page{Ideas: []idea.Idea{}}, nil
		}
		if o.Tag != "" {
			tagFilter = ` AND i.id IN (SELECT idea_id FROM idea_tags WHERE user_id = ? AND tag = ?)`
		}
		q = `SELECT ` + prefixed("i.") + `,
			highlight(ideas_fts, 0, char(1), char(2)),
			snippet(ideas_fts, 1, char(1), char(2), ' … ', 24)
			FROM ideas_fts JOIN ideas i ON i.seq = ideas_fts.rowid
			WHERE ideas_fts MATCH ? AND i.user_id = ? AND i.deleted_at IS NULL` + tagFilter + `
			ORDER BY bm25(ideas_fts, 10.0, 1.0), i.created_at DESC, i.id DESC LIMIT ? OFFSET ?`
		args = []any{fq, userID}
	}
	if o.Tag != "" {
		args = append(args, userID, o.Tag)
	}
	args = append(args, o.Limit+1, c.offset)
	var hl []*idea.Highlight
	ideas, err := s.query(ctx, q, args, func() []any {
		h := &idea.Highlight{}
		hl = append(hl, h)
		return []any{&h.Title, &h.Snippet}
	})
	if err != nil {
		return idea.Page{}, fmt.Errorf("search ideas: %w", err)
	}
	for i := range ideas {
		ideas[i].Highlight = hl[i]
	}
	p := idea.Page{Ideas: ideas}
	if len(ideas) > o.Limit {
		p.Ideas = ideas[:o.Limit]
		p.Next = encodeOffset(c.offset + o.Limit)
	}
	if p.Ideas == nil {
		p.Ideas = []idea.Idea{}
	}
	return p, nil
}

func prefixed(p string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = p + c
	}
	return strings.Join(cols, ", ")
}

// Update writes f if the idea is live and at version expect.
func (s *Store) Update(ctx context.Context, userID, id string, expect int, f idea.Fields, now time.Time) (idea.Idea, error) {
	var out idea.Idea
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		it, err := scanIdea(tx.QueryRow(ctx, `UPDATE ideas SET title = ?, body = ?, tags = ?, content_hash = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND user_id = ? AND deleted_at IS NULL AND version = ? RETURNING `+columns,
			f.Title, f.Body, tagsJSON(f.Tags), idea.ContentHash(f.Title, f.Body, f.Tags), now, id, userID, expect))
		if errors.Is(err, sql.ErrNoRows) {
			return errStale
		}
		if err != nil {
			return fmt.Errorf("update idea: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM idea_tags WHERE idea_id = ?`, id); err != nil {
			return fmt.Errorf("update idea tags: %w", err)
		}
		if err := writeTags(ctx, tx, id, userID, f.Tags); err != nil {
			return err
		}
		out = it
		return nil
	})
	if errors.Is(err, errStale) {
		// Either it is gone (404) or someone else saved first (409 with theirs).
		cur, gerr := s.Get(ctx, userID, id)
		if gerr != nil {
			return idea.Idea{}, gerr
		}
		return idea.Idea{}, idea.Conflict(cur)
	}
	return out, err
}

var errStale = errors.New("stale version or missing idea")

// SoftDelete marks a live idea deleted with an undo window and token.
func (s *Store) SoftDelete(ctx context.Context, userID, id string, now, expires time.Time, tokenHash string) (idea.Idea, error) {
	it, err := scanIdea(s.db.Writer().QueryRowContext(ctx, s.db.Rebind(`UPDATE ideas SET deleted_at = ?, undo_expires_at = ?, undo_token_hash = ?
		WHERE id = ? AND user_id = ? AND deleted_at IS NULL RETURNING `+columns), now.UTC(), expires.UTC(), tokenHash, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return idea.Idea{}, notFound()
	}
	if err != nil {
		return idea.Idea{}, fmt.Errorf("delete idea: %w", err)
	}
	return it, nil
}

// Restore brings back a deleted idea by ID or undo token hash while its
// window is open (now at or before UndoExpiresAt).
func (s *Store) Restore(ctx context.Context, userID, id, tokenHash string, now time.Time) (idea.Idea, error) {
	where, arg := "id = ?", any(id)
	if tokenHash != "" {
		where, arg = "undo_token_hash = ?", tokenHash
	}
	cur, err := scanIdea(s.db.QueryRow(ctx, `SELECT `+columns+` FROM ideas WHERE `+where+` AND user_id = ?`, arg, userID))
	if errors.Is(err, sql.ErrNoRows) {
		if tokenHash != "" {
			return idea.Idea{}, apperr.E(apperr.NotFound, "No deleted idea matches this undo token; it may already have been restored or purged.")
		}
		return idea.Idea{}, notFound()
	}
	if err != nil {
		return idea.Idea{}, fmt.Errorf("restore idea: %w", err)
	}
	if cur.DeletedAt == nil {
		return idea.Idea{}, apperr.E(apperr.Conflict, "This idea is not deleted.")
	}
	if now.After(*cur.UndoExpiresAt) {
		return idea.Idea{}, apperr.E(apperr.Gone, "The undo window for this idea ended at %s, so it can no longer be restored; it will be purged.", cur.UndoExpiresAt.UTC().Format(time.RFC3339))
	}
	it, err := scanIdea(s.db.Writer().QueryRowContext(ctx, s.db.Rebind(`UPDATE ideas SET deleted_at = NULL, undo_expires_at = NULL, undo_token_hash = NULL
		WHERE id = ? AND user_id = ? AND deleted_at IS NOT NULL AND undo_expires_at >= ? RETURNING `+columns), cur.ID, userID, now.UTC()))
	if errors.Is(err, sql.ErrNoRows) {
		return idea.Idea{}, apperr.E(apperr.Gone, "The undo window for this idea has ended.")
	}
	if err != nil {
		return idea.Idea{}, fmt.Errorf("restore idea: %w", err)
	}
	return it, nil
}

// ListDeleted lists the user's deleted ideas whose window is still open.
func (s *Store) ListDeleted(ctx context.Context, userID string, now time.Time) ([]idea.Idea, error) {
	out, err := s.query(ctx, `SELECT `+columns+` FROM ideas WHERE user_id = ? AND deleted_at IS NOT NULL AND undo_expires_at >= ?
		ORDER BY deleted_at DESC, id DESC LIMIT 500`, []any{userID, now.UTC()})
	if err != nil {
		return nil, fmt.Errorf("list deleted ideas: %w", err)
	}
	if out == nil {
		out = []idea.Idea{}
	}
	return out, nil
}

// PurgeBatch hard-deletes up to limit ideas whose window ended before now.
// Each batch is its own statement (its own short transaction); on
// PostgreSQL rows another purge holds are skipped, not waited for.
func (s *Store) PurgeBatch(ctx context.Context, now time.Time, limit int) (int64, error) {
	q := `DELETE FROM ideas WHERE seq IN (SELECT seq FROM ideas WHERE deleted_at IS NOT NULL AND undo_expires_at < ? LIMIT ?)`
	if s.db.Dialect == store.Postgres {
		q = `DELETE FROM ideas WHERE id IN (SELECT id FROM ideas WHERE deleted_at IS NOT NULL AND undo_expires_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`
	}
	res, err := s.db.Exec(ctx, q, now.UTC(), limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Each calls fn with every live idea of the user, oldest first, one batch
// of eachBatch at a time.
func (s *Store) Each(ctx context.Context, userID string, fn func(idea.Idea) error) error {
	var last *idea.Idea
	for {
		q := `SELECT ` + columns + ` FROM ideas WHERE user_id = ? AND deleted_at IS NULL`
		args := []any{userID}
		if last != nil {
			q += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
			args = append(args, last.CreatedAt, last.CreatedAt, last.ID)
		}
		q += ` ORDER BY created_at, id LIMIT ?`
		args = append(args, eachBatch)
		batch, err := s.query(ctx, q, args)
		if err != nil {
			return fmt.Errorf("read ideas: %w", err)
		}
		for _, it := range batch {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(batch) < eachBatch {
			return nil
		}
		last = &batch[len(batch)-1]
	}
}

// Import inserts the ideas next yields in one transaction, skipping those
// the user already has (same ID, or same content among live ideas). An ID
// another user holds is replaced with a new one.
func (s *Store) Import(ctx context.Context, userID string, next func() (idea.Idea, error)) (idea.ImportResult, error) {
	var res idea.ImportResult
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res = idea.ImportResult{}
		for {
			it, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			// An ID is kept when it is valid and no idea on the server has
			// it; the user's own (live or recently deleted) is the same
			// idea, a duplicate.
			from, reason := it.ID, ""
			switch {
			case it.ID == "":
			case !idea.ValidID(it.ID):
				it.ID, reason = "", idea.IDInvalid
			default:
				var owner string
				err := tx.QueryRow(ctx, `SELECT user_id FROM ideas WHERE id = ?`, it.ID).Scan(&owner)
				switch {
				case err == nil && owner == userID:
					res.Duplicates++
					continue
				case err == nil:
					it.ID, reason = "", idea.IDTaken
				case !errors.Is(err, sql.ErrNoRows):
					return fmt.Errorf("import: %w", err)
				}
			}
			var one int
			err = tx.QueryRow(ctx, `SELECT 1 FROM ideas WHERE user_id = ? AND content_hash = ? AND deleted_at IS NULL LIMIT 1`,
				userID, idea.ContentHash(it.Title, it.Body, it.Tags)).Scan(&one)
			if err == nil {
				res.Duplicates++
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("import: %w", err)
			}
			switch {
			case it.ID != "":
				res.KeptIDs++
			case reason != "":
				it.ID = idea.NewID()
				res.NewIDs = append(res.NewIDs, idea.IDChange{From: from, To: it.ID, Reason: reason})
			default:
				it.ID = idea.NewID()
			}
			it.UserID = userID
			if err := insert(ctx, tx, it); err != nil {
				return err
			}
			res.Imported++
			res.IDs = append(res.IDs, it.ID)
		}
	})
	if err != nil {
		return idea.ImportResult{}, err
	}
	if res.NewIDs == nil {
		res.NewIDs = []idea.IDChange{}
	}
	return res, nil
}

// Tags lists the tags on the user's live ideas, most used first.
func (s *Store) Tags(ctx context.Context, userID string, limit int) ([]idea.TagCount, error) {
	rows, err := s.db.Query(ctx, `SELECT t.tag, count(*) AS n FROM idea_tags t JOIN ideas i ON i.id = t.idea_id
		WHERE t.user_id = ? AND i.deleted_at IS NULL GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	var out []idea.TagCount
	for rows.Next() {
		var tc idea.TagCount
		if err := rows.Scan(&tc.Tag, &tc.Count); err != nil {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		out = append(out, tc)
	}
	return out, rows.Err()
}
