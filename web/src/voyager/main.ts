// Entry point of every Voyager page. esbuild emits the CSS imported here as
// the sibling bundle voyager/main.css, which the layout links. A community's
// brand stylesheet is linked after it and overrides the --brand variables.
import "../shared/base.css";
import "./voyager.css";
import { enhance } from "../shared/enhance";
import { initChat, initInvite } from "./chat";

enhance();
initChat();
initInvite();
