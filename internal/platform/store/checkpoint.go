package store

import (
	"database/sql"
	"sync"
	"time"
)

// SQLite in WAL mode appends each commit to the -wal file; a checkpoint
// copies those pages back into the database file so the log can start
// over. By default the connection that commits runs it (every 1,000
// pages), inside that commit: it copies the pages and fsyncs the log and
// the database, and every writer queued behind the one writer connection
// waits meanwhile. At a thousand idea creates a second that was a 10–30 ms
// stall several times a second, most of the create p99.
//
// So the writer only checkpoints as a backstop (walBackstopPages, when
// the background cannot keep up), and a checkpointer on its own
// connection runs PASSIVE checkpoints every walCheckpointEvery: PASSIVE
// never takes the write lock, so commits go on while it copies and
// fsyncs. Durability is unchanged: a commit is in the WAL (synchronous
// NORMAL) before it is acknowledged, checkpointed or not.
const (
	walCheckpointEvery = 100 * time.Millisecond
	// walBackstopPages is the writer's wal_autocheckpoint: under a
	// sustained load the background checkpoints copy all but the last
	// few commits, so the log never empties; at this size the writer
	// runs one (mostly already copied) checkpoint and the log restarts.
	walBackstopPages = 10000
	// walSizeLimit is journal_size_limit: a log that grew beyond it is
	// truncated back when it restarts.
	walSizeLimit = 64 << 20
)

// checkpointer runs PASSIVE WAL checkpoints on its own connection.
type checkpointer struct {
	db *sql.DB
	// mu is held for each checkpoint, and by DB.Scrub's TRUNCATE
	// checkpoint, which SQLite would refuse while this one runs.
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func startCheckpointer(dsn string, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(every)
	return c, nil
}

func (c *checkpointer) run(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// Nothing to copy costs a read of the WAL index. An error
			// (the database is busy, or closing) is left to the next tick
			// and, failing that, the writer's backstop.
			var busy, log, done int
			c.mu.Lock()
			_ = c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
			c.mu.Unlock()
		}
	}
}

func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		err = c.db.Close()
	})
	return err
}
