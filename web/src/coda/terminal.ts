// Entry point of the DevMode terminal page, loaded after coda/main.js. It only
// constructs the terminal; the relay connection is wired in later. It is the
// one bundle exempt from the 30 KB budget. Its CSS (xterm's) is emitted as
// coda/terminal.css, which the page links from its "head" block.
import "@xterm/xterm/css/xterm.css";
import "./terminal.css";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

const el = document.getElementById("terminal");
if (el) {
  const term = new Terminal({
    cursorBlink: true,
    convertEol: true,
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
}
