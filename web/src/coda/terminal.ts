// Entry point of the DevMode terminal page, loaded after coda/main.js. It
// builds an xterm.js terminal that fits its box, asks Coda for a
// single-use ticket, and connects to the relay (docs/devmode-protocol.md):
// binary frames carry terminal bytes, JSON text frames the control
// messages. When the connection drops it shows "Reconnecting…" and comes
// back to the same shell (with its recent output) if it returns within the
// relay's grace period. It is the one bundle exempt from the 30 KB budget.
import "./devmode-csp";
import "@xterm/xterm/css/xterm.css";
import "./terminal.css";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

type Control = {
  type: string;
  terminal?: string;
  resumed?: boolean;
  code?: number;
  message?: string;
};

const el = document.getElementById("terminal");
const statusEl = document.getElementById("terminal-status");

function setState(state: string, text: string) {
  if (el) el.dataset.state = state;
  if (statusEl) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }
}

if (el) {
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: 14,
    scrollback: 5000,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  new ResizeObserver(() => fit.fit()).observe(el);
  el.dataset.ready = "true";

  const enc = new TextEncoder();
  let ws: WebSocket | null = null;
  // The resume key survives a reload of the page (same tab) so that it,
  // too, gets the same shell back within the grace period.
  const keyName = `devmode:${el.dataset.runnerId}`;
  let resumeKey = sessionStorage.getItem(keyName) ?? "";
  let ended = false;
  let backoff = 500;
  let lastPong = Date.now();
  // Why the page is reconnecting, kept through failed attempts (a ticket
  // request that fails while Coda restarts, a runner not back yet).
  let reason = "Reconnecting…";

  const send = (data: string | Uint8Array) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
  };
  const sendControl = (m: object) => send(JSON.stringify(m));

  // A large paste goes in pieces: the relay takes messages up to 64 KiB.
  const sendInput = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i += 16384) send(b.subarray(i, i + 16384));
  };
  term.onData((d) => sendInput(enc.encode(d)));
  term.onBinary((d) => {
    const b = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff;
    sendInput(b);
  });
  term.onResize(({ cols, rows }) => sendControl({ type: "resize", cols, rows }));

  // Heartbeat: a connection that stops answering is replaced.
  setInterval(() => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastPong > 45000) {
      ws.close();
      return;
    }
    sendControl({ type: "ping" });
  }, 15000);

  const retry = (why: string) => {
    if (ended) return;
    setState("reconnecting", why);
    const wait = backoff / 2 + Math.random() * backoff;
    backoff = Math.min(backoff * 2, 10000);
    setTimeout(connect, wait);
  };

  async function connect() {
    let ticket: { ticket: string; relay_url: string };
    try {
      const r = await fetch(el!.dataset.ticketUrl!, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (r.status === 401 || r.status === 404) {
        ended = true;
        setState("closed", r.status === 401 ? "Signed out. Sign in again to reconnect." : "This runner was revoked.");
        return;
      }
      if (!r.ok) throw new Error(`ticket: ${r.status}`);
      ticket = await r.json();
    } catch {
      retry(reason);
      return;
    }
    const sock = new WebSocket(ticket.relay_url);
    sock.binaryType = "arraybuffer";
    ws = sock;
    sock.onopen = () => {
      lastPong = Date.now();
      sock.send(
        JSON.stringify({ type: "auth", ticket: ticket.ticket, terminal: resumeKey, cols: term.cols, rows: term.rows }),
      );
    };
    sock.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) {
        term.write(new Uint8Array(ev.data));
        return;
      }
      let m: Control;
      try {
        m = JSON.parse(ev.data as string);
      } catch {
        return;
      }
      lastPong = Date.now();
      switch (m.type) {
        case "open":
          if (!m.resumed && resumeKey) term.write("\r\n\x1b[2m[a new shell: the previous one ended]\x1b[0m\r\n");
          if (m.resumed) term.reset();
          resumeKey = m.terminal ?? "";
          sessionStorage.setItem(keyName, resumeKey);
          backoff = 500;
          reason = "Reconnecting…";
          setState("open", m.resumed ? "Connected (resumed)" : "Connected");
          sendControl({ type: "resize", cols: term.cols, rows: term.rows });
          term.focus();
          break;
        case "exit":
          ended = true;
          sessionStorage.removeItem(keyName);
          setState("exited", `The shell exited${m.code !== undefined && m.code >= 0 ? ` with status ${m.code}` : ""}${m.message ? `: ${m.message}` : ""}. Reload to open a new one.`);
          break;
        case "error":
          setState("error", m.message ?? "The terminal could not open.");
          break;
      }
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (ended) return;
      // Close codes: docs/devmode-protocol.md. The shell lives on the
      // runner, which keeps it through a restart of the server or a drop
      // of its own connection: the page comes back to it.
      if (ev.code === 1012) {
        reason = "The server restarted. Reconnecting…";
      } else if (ev.code === 4005) {
        reason = "The runner lost its connection. Reconnecting…";
      } else if (ev.code === 4004) {
        // After a restart the runner may not be back yet.
        if (!resumeKey || reason === "Reconnecting…") reason = "The runner is offline. Retrying…";
      } else {
        reason = "Reconnecting…";
      }
      retry(reason);
    };
  }

  setState("connecting", "Connecting…");
  // A page without a ticket URL (a bare terminal) has nothing to connect to.
  if (el.dataset.ticketUrl) connect();
}
