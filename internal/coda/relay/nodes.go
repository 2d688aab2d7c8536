package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// Several relay nodes share Redis. Each connected runner is listed under
// devmode:runner:<id> with the URL of the node holding it; a node that
// gets a browser for a runner held elsewhere forwards the browser's
// connection there (see docs/devmode-relay.md).

const (
	directoryTTL  = 60 * time.Second
	forwardPrefix = "fwd."
	forwardTTL    = 30 * time.Second
)

func directoryKey(runnerID string) string { return "devmode:runner:" + runnerID }

func (r *Relay) routing() bool { return r.o.Redis != nil && r.o.Advertise != "" }

// OnlineIn reports whether a relay sharing rdb holds runnerID: how Coda
// shows online status when the relay runs in other processes.
func OnlineIn(ctx context.Context, rdb redis.UniversalClient, runnerID string) bool {
	n, err := rdb.Exists(ctx, directoryKey(runnerID)).Result()
	return err == nil && n > 0
}

// announce lists a runner as held by this node (with Redis, even without
// Advertise, so that Coda can show it online).
func (r *Relay) announce(ctx context.Context, runnerID string) {
	if r.o.Redis == nil {
		return
	}
	if err := r.o.Redis.Set(ctx, directoryKey(runnerID), r.o.Advertise, directoryTTL).Err(); err != nil {
		r.o.Logger.Warn("devmode relay directory", "err", err)
	}
}

// announceAll refreshes the listing of every runner held here.
func (r *Relay) announceAll() {
	if r.o.Redis == nil {
		return
	}
	r.mu.Lock()
	ids := make([]string, 0, len(r.runners))
	for id := range r.runners {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), r.o.PingInterval)
	defer cancel()
	pipe := r.o.Redis.Pipeline()
	for _, id := range ids {
		pipe.Set(ctx, directoryKey(id), r.o.Advertise, directoryTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil && len(ids) > 0 {
		r.o.Logger.Warn("devmode relay directory", "err", err)
	}
}

// withdraw removes a runner's listing if it is still this node's.
func (r *Relay) withdraw(runnerID string) {
	if r.o.Redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, err := r.o.Redis.Get(ctx, directoryKey(runnerID)).Result(); err == nil && v == r.o.Advertise {
		r.o.Redis.Del(ctx, directoryKey(runnerID))
	}
}

// holder returns the URL of the node holding runnerID, or "".
func (r *Relay) holder(ctx context.Context, runnerID string) string {
	if !r.routing() {
		return ""
	}
	v, err := r.o.Redis.Get(ctx, directoryKey(runnerID)).Result()
	if err != nil || v == "" || v == r.o.Advertise {
		return ""
	}
	return v
}

// forwardToken vouches, between nodes, for a browser whose ticket this
// node already spent.
func (r *Relay) forwardToken(id Identity) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s|%s|%d", id.UserID, id.RunnerID, time.Now().Add(forwardTTL).Unix())))
	return forwardPrefix + body + "." + r.mac(body)
}

func (r *Relay) mac(body string) string {
	m := hmac.New(sha256.New, r.o.Secret)
	m.Write([]byte("devmode-relay-forward|" + body))
	return hex.EncodeToString(m.Sum(nil))
}

// checkForward verifies a forward token.
func (r *Relay) checkForward(tok string) (Identity, error) {
	body, sig, ok := strings.Cut(strings.TrimPrefix(tok, forwardPrefix), ".")
	if !ok || len(r.o.Secret) == 0 || !hmac.Equal([]byte(sig), []byte(r.mac(body))) {
		return Identity{}, errors.New("bad forward token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	var exp int64
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return Identity{}, errors.New("bad forward token")
	}
	id.UserID, id.RunnerID = parts[0], parts[1]
	if _, err := fmt.Sscan(parts[2], &exp); err != nil || time.Now().Unix() > exp {
		return Identity{}, errors.New("expired forward token")
	}
	return id, nil
}

// forward connects browser ws to the node holding its runner and copies
// frames both ways. Reading from that node only as fast as the browser
// takes keeps flow control end to end.
func (r *Relay) forward(ctx context.Context, ws *websocket.Conn, node string, id Identity, auth Message) {
	u := "ws" + strings.TrimPrefix(strings.TrimRight(node, "/"), "http") + "/devmode/relay/terminal"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	up, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	cancel()
	if err != nil {
		r.o.Logger.Warn("devmode relay forward", "node", node, "err", err)
		_ = writeJSON(ctx, ws, Message{Type: TypeError, Message: "The runner's relay node did not answer."})
		ws.Close(CloseOffline, "runner offline")
		return
	}
	defer up.CloseNow()
	up.SetReadLimit(4 << 20)
	auth.Ticket = r.forwardToken(id)
	b, _ := json.Marshal(auth)
	if err := up.Write(ctx, websocket.MessageText, b); err != nil {
		return
	}
	defer r.watch(up)()
	defer r.watch(ws)()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, p, err := up.Read(ctx)
			if err != nil {
				if s := websocket.CloseStatus(err); s != -1 {
					ws.Close(s, "")
				}
				ws.CloseNow()
				return
			}
			if err := ws.Write(ctx, typ, p); err != nil {
				return
			}
		}
	}()
	for {
		typ, p, err := ws.Read(ctx)
		if err != nil {
			up.CloseNow()
			break
		}
		if err := up.Write(ctx, typ, p); err != nil {
			break
		}
	}
	<-done
}

// revokeChannel carries the IDs of revoked runners from Coda to every
// relay node, so that each disconnects the runner at once instead of at
// its next heartbeat's credential check.
const revokeChannel = "devmode:revoke"

// PublishRevoke tells every relay node sharing rdb that runnerID was
// revoked. Delivery is best effort (Redis pub/sub): a node that misses it
// still finds the revoke at its next heartbeat (Options.Recheck).
func PublishRevoke(ctx context.Context, rdb redis.UniversalClient, runnerID string) error {
	return rdb.Publish(ctx, revokeChannel, runnerID).Err()
}

// subscribeRevokes disconnects runners named on revokeChannel until the
// relay closes. go-redis resubscribes by itself after a lost connection.
func (r *Relay) subscribeRevokes(ready chan<- struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.done
		cancel()
	}()
	ps := r.o.Redis.Subscribe(ctx, revokeChannel)
	defer ps.Close()
	// Wait for the subscription to be confirmed, so that a revoke published
	// after New returns is not missed.
	if _, err := ps.Receive(ctx); err != nil && ctx.Err() == nil {
		r.o.Logger.Warn("devmode relay revoke subscription", "err", err)
	}
	close(ready)
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			r.Disconnect(m.Payload)
		}
	}
}
