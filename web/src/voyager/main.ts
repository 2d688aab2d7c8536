// Entry point of every Voyager page. esbuild emits the CSS imported here as
// the sibling bundle voyager/main.css, which the layout links. A community's
// brand stylesheet is linked after it and overrides the colour variables.
import "../shared/base.css";
import "./voyager.css";
import "./code.css";
import { enhance } from "../shared/enhance";
import { initChat } from "./chat";
import { initCopyButtons } from "../shared/copy";

enhance();
initChat();
initCopyButtons();
