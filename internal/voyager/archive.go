package voyager

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
)

// ArchiveFormat names the archive file's format.
const (
	ArchiveFormat  = "voyager-archive"
	ArchiveVersion = 1
)

// archiveCommand is `voyager archive --before DATE [--dry-run] [--out FILE]`,
// the guide's quarterly "archive old conversations".
func archiveCommand() app.Command {
	return app.Command{
		Name:    "archive",
		Usage:   "archive --before DATE [--dry-run] [--out FILE]",
		Summary: "move conversations last active before DATE into an archive file (the data-export format) and delete them; audited",
		Run: func(ctx context.Context, env app.Env, args []string) error {
			usage := app.Usagef("usage: voyager archive --before 2026-01-01 [--dry-run] [--out FILE]")
			fs := flag.NewFlagSet("archive", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			beforeS := fs.String("before", "", "")
			dry := fs.Bool("dry-run", false, "")
			out := fs.String("out", "", "")
			if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *beforeS == "" {
				return usage
			}
			before, err := parseDate(*beforeS)
			if err != nil {
				return app.Usagef("voyager archive: --before %q: give a date (2026-01-01, midnight UTC) or an RFC 3339 time", *beforeS)
			}
			if before.After(time.Now()) {
				return app.Usagef("voyager archive: --before %s is in the future; archiving takes conversations whose last message is older than the date", before.Format(time.RFC3339))
			}
			return app.WithStore(ctx, Product(), env, func(db *store.DB) error {
				file := *out
				if file == "" && !*dry {
					dir := env.Getenv("DATA_DIR")
					if dir == "" {
						dir = "data"
					}
					file = filepath.Join(dir, "archives", fmt.Sprintf("voyager-conversations-before-%s-%s.json", before.UTC().Format("2006-01-02"), time.Now().UTC().Format("20060102T150405Z")))
				}
				res, err := Archive(ctx, db, ArchiveOptions{Before: before, File: file, DryRun: *dry})
				if err != nil {
					return app.Usagef("voyager archive failed, nothing was deleted: %v", err)
				}
				if *dry {
					fmt.Fprintf(env.Stdout, "dry run: %d conversation(s) with %d message(s) of %d member(s) were last active before %s; nothing written or deleted\n", res.Conversations, res.Messages, res.Members, before.Format(time.RFC3339))
					return nil
				}
				fmt.Fprintf(env.Stdout, "archived %d conversation(s) with %d message(s) of %d member(s), last active before %s, to %s (mode 0600) and deleted %d from the database\n", res.Conversations, res.Messages, res.Members, before.Format(time.RFC3339), res.File, res.Deleted)
				return nil
			})
		},
	}
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.RFC3339, s)
}

// ArchiveOptions say what to archive and where.
type ArchiveOptions struct {
	Before time.Time // conversations last active before this go
	File   string    // the archive to write (must not exist)
	DryRun bool      // count only
	Now    func() time.Time
}

// ArchiveResult counts what was archived.
type ArchiveResult struct {
	File          string
	Members       int
	Conversations int
	Messages      int
	Deleted       int64
}

// archivedMember is one member's part of the archive: the same "voyager"
// object the account download has (memberships and conversations with
// their messages), so an operator can hand it to the member as is.
type archivedMember struct {
	UserID  string `json:"user_id"`
	Voyager struct {
		Memberships   []chat.Membership `json:"memberships"`
		Conversations []archivedConv    `json:"conversations"`
	} `json:"voyager"`
}

type archivedConv struct {
	chat.Conversation
	Messages []chat.Message `json:"messages"`
}

// Archive writes every conversation last active before o.Before to
// o.File, in the data-export format grouped by member, syncs the file to
// disk, then deletes those conversations (a conversation with a message
// newer than o.Before by then is kept) and records an audit entry with
// the counts (no content).
func Archive(ctx context.Context, db *store.DB, o ArchiveOptions) (ArchiveResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	st := chatstore.New(db)
	convs, err := st.StaleConversations(ctx, o.Before)
	if err != nil {
		return ArchiveResult{}, err
	}
	res := ArchiveResult{File: o.File, Conversations: len(convs)}
	var members []*archivedMember
	byUser := map[string]*archivedMember{}
	ids := make([]string, 0, len(convs))
	for _, c := range convs {
		m := byUser[c.UserID]
		if m == nil {
			m = &archivedMember{UserID: c.UserID}
			ms, err := st.Memberships(ctx, c.UserID)
			if err != nil {
				return res, err
			}
			m.Voyager.Memberships = append([]chat.Membership{}, ms...)
			m.Voyager.Conversations = []archivedConv{}
			byUser[c.UserID] = m
			members = append(members, m)
		}
		msgs, err := st.Messages(ctx, c.ID, 0)
		if err != nil {
			return res, err
		}
		res.Messages += len(msgs)
		if msgs == nil {
			msgs = []chat.Message{}
		}
		m.Voyager.Conversations = append(m.Voyager.Conversations, archivedConv{Conversation: c, Messages: msgs})
		ids = append(ids, c.ID)
	}
	res.Members = len(members)
	if o.DryRun {
		return res, nil
	}
	if err := writeArchive(o, members); err != nil {
		return res, err
	}
	if res.Deleted, err = st.DeleteStaleConversations(ctx, ids, o.Before); err != nil {
		return res, fmt.Errorf("the archive %s is written but deleting failed (run the command again; it archives what is left): %w", o.File, err)
	}
	_ = audit.New(db, nil).Record(ctx, audit.Entry{Action: "conversations_archived", Resource: "system", Metadata: map[string]any{
		"before": o.Before.UTC().Format(time.RFC3339), "conversations": res.Conversations, "messages": res.Messages,
		"members": res.Members, "deleted": res.Deleted, "file": filepath.Base(o.File),
	}})
	return res, nil
}

// writeArchive writes the archive to a temporary file beside o.File,
// syncs it and renames it into place.
func writeArchive(o ArchiveOptions, members []*archivedMember) error {
	if _, err := os.Stat(o.File); err == nil {
		return fmt.Errorf("%s already exists; choose a new file name", o.File)
	}
	if err := os.MkdirAll(filepath.Dir(o.File), 0o700); err != nil {
		return err
	}
	tmp := o.File + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriter(f)
	if members == nil {
		members = []*archivedMember{}
	}
	doc := struct {
		Format     string            `json:"format"`
		Version    int               `json:"version"`
		ArchivedAt time.Time         `json:"archived_at"`
		Before     time.Time         `json:"before"`
		Members    []*archivedMember `json:"members"`
	}{ArchiveFormat, ArchiveVersion, o.Now().UTC(), o.Before.UTC(), members}
	enc := json.NewEncoder(w)
	if err := enc.Encode(doc); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, o.File)
}
