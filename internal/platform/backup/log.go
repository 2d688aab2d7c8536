package backup

import (
	"context"
	"log/slog"
)

// litestreamLog adapts the server's logger for Litestream, whose records
// carry an attribute named "level" (a compaction level) that would repeat
// the JSON line's own "level" key: it becomes "compaction_level".
type litestreamLog struct{ h slog.Handler }

func newLitestreamLogger(l *slog.Logger) *slog.Logger {
	return slog.New(litestreamLog{l.Handler()}).With("component", "litestream")
}

func rename(a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		a.Key = "compaction_level"
	}
	return a
}

func (l litestreamLog) Enabled(ctx context.Context, lv slog.Level) bool { return l.h.Enabled(ctx, lv) }

func (l litestreamLog) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(rename(a))
		return true
	})
	return l.h.Handle(ctx, out)
}

func (l litestreamLog) WithAttrs(as []slog.Attr) slog.Handler {
	renamed := make([]slog.Attr, len(as))
	for i, a := range as {
		renamed[i] = rename(a)
	}
	return litestreamLog{l.h.WithAttrs(renamed)}
}

func (l litestreamLog) WithGroup(name string) slog.Handler { return litestreamLog{l.h.WithGroup(name)} }
