package voyager

import (
	"context"
	"encoding/json"
	"io"

	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/coach"
)

// coachDataSection is what the coach knows about the member in "download
// my data": per community, the profile, every remembered or proposed fact,
// and each document with its extracted text and the file itself (base64).
// Account deletion removes the files in FILES_URL, then the rows go with
// the user (ON DELETE CASCADE).
func coachDataSection(chats chat.Store, svc *coach.Service) auth.DataSection {
	st := svc.Store()
	type docOut struct {
		coach.Document
		Text string `json:"text"`
		File []byte `json:"file_base64"`
	}
	type communityOut struct {
		Community string         `json:"community"`
		Profile   coach.Profile  `json:"profile"`
		Memories  []coach.Memory `json:"memories"`
		Documents []docOut       `json:"documents"`
	}
	return auth.DataSection{
		Name: "voyager_coach",
		Export: func(ctx context.Context, userID string, w io.Writer) error {
			ms, err := chats.Memberships(ctx, userID)
			if err != nil {
				return err
			}
			out := []communityOut{}
			for _, m := range ms {
				c := communityOut{Community: m.CommunityID, Memories: []coach.Memory{}, Documents: []docOut{}}
				if c.Profile, err = st.Profile(ctx, m.CommunityID, userID); err != nil {
					return err
				}
				mems, err := st.Memories(ctx, m.CommunityID, userID)
				if err != nil {
					return err
				}
				c.Memories = append(c.Memories, mems...)
				convs, err := chats.Conversations(ctx, m.CommunityID, userID)
				if err != nil {
					return err
				}
				ids := []string{""}
				for _, cv := range convs {
					ids = append(ids, cv.ID)
				}
				for _, id := range ids {
					ds, err := st.Documents(ctx, m.CommunityID, userID, id)
					if err != nil {
						return err
					}
					for _, d := range ds {
						full, err := svc.Document(ctx, m.CommunityID, userID, d.ID)
						if err != nil {
							return err
						}
						c.Documents = append(c.Documents, docOut{Document: d, Text: full.Text, File: full.Data})
					}
				}
				out = append(out, c)
			}
			return json.NewEncoder(w).Encode(out)
		},
		// Files kept outside the database go before the rows that name them.
		Delete: svc.DeleteFiles,
		// Rewritten after a deletion so no text stays in dead rows (PostgreSQL VACUUM).
		Tables: []string{"voyager_profiles", "voyager_memories", "voyager_documents"},
	}
}
