package mail

import (
	"context"
	"log/slog"
	netmail "net/mail"

	"github.com/relaywork/suite/internal/platform/obs"
)

// streamSender is EMAIL_SERVER=stream: it writes each message to the log
// and sends nothing, so development needs no mail server and the sign-in
// link is in the server's output.
type streamSender struct {
	from   *netmail.Address
	logger *slog.Logger
}

var _ Sender = (*streamSender)(nil)

// Send validates m like the SMTP sender does and logs it as one info record
// holding From, To, Subject and the full text part (links included). The
// HTML part is left out: it says the same as the text.
func (s *streamSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := prepare(m)
	if err != nil {
		return err
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "mail (EMAIL_SERVER=stream: logged, not sent)",
		slog.String("from", s.from.String()),
		slog.String("to", p.to.String()),
		slog.String("subject", p.subject),
		// The sign-in link in the text is the point of this sender:
		// keep it from the log redactor's secret-shape rules.
		slog.Any("text", obs.Verbatim(p.text)),
	)
	return nil
}
