package voyager

import (
	"context"
	"encoding/json"
	"io"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/voyager/chat"
)

// dataSection is Voyager's part of "download my data" and account
// deletion: memberships, conversations and messages. Deleting the user row
// removes them (ON DELETE CASCADE); Delete only drops what the store
// keeps in memory.
func dataSection(p *app.Platform, st chat.Store) auth.DataSection {
	return auth.DataSection{
		Name: "voyager",
		Export: func(ctx context.Context, userID string, w io.Writer) error {
			ms, err := st.Memberships(ctx, userID)
			if err != nil {
				return err
			}
			type convOut struct {
				chat.Conversation
				Messages []chat.Message `json:"messages"`
			}
			usage, err := st.UsageHistory(ctx, userID)
			if err != nil {
				return err
			}
			out := struct {
				Memberships   []chat.Membership `json:"memberships"`
				Conversations []convOut         `json:"conversations"`
				// Usage is the daily-limit counts: answers asked for per
				// community and UTC day.
				Usage []chat.UsageDay `json:"usage"`
			}{Memberships: ms, Conversations: []convOut{}, Usage: usage}
			if out.Memberships == nil {
				out.Memberships = []chat.Membership{}
			}
			for _, m := range ms {
				convs, err := st.Conversations(ctx, m.CommunityID, userID)
				if err != nil {
					return err
				}
				for _, c := range convs {
					msgs, err := st.Messages(ctx, c.ID, 0)
					if err != nil {
						return err
					}
					out.Conversations = append(out.Conversations, convOut{Conversation: c, Messages: msgs})
				}
			}
			return json.NewEncoder(w).Encode(out)
		},
		// The rows go by ON DELETE CASCADE from users; the store's copies
		// of the member's recent messages (chatstore's History cache) go
		// here.
		Delete: func(ctx context.Context, userID string) error {
			if f, ok := st.(interface{ ForgetUser(userID string) }); ok {
				f.ForgetUser(userID)
			}
			return nil
		},
		// Every row goes by ON DELETE CASCADE from users; these are the
		// tables to scrub afterwards.
		Tables: []string{"voyager_memberships", "voyager_conversations", "voyager_messages", "voyager_usage", "voyager_handoffs", "voyager_invites"},
	}
}
