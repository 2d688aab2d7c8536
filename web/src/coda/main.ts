// Entry point of every Coda page. esbuild emits the CSS imported here as the
// sibling bundle coda/main.css, which the layout links.
import "../shared/base.css";
import "./coda.css";
import { enhance } from "../shared/enhance";
import { initList } from "./ideas/list";
import { initEditor } from "./ideas/editor";
import { initCopy } from "./copy";
import { initTasks } from "./ideas/tasks";

enhance();
initList();
initEditor();
initCopy();
initTasks();
