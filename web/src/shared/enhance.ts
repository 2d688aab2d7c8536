// Progressive enhancement shared by every page of both products. Pages work
// without it; it only adds behaviour that needs JavaScript.
import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from "web-vitals";

// enhance marks the document as scripted and, when the server asks for it
// with <body data-vitals="on">, reports Core Web Vitals to /api/vitals.
export function enhance(): void {
  document.documentElement.classList.add("js");
  hideBrokenLogos();
  if (document.body?.dataset.vitals === "on") {
    reportVitals("/api/vitals");
  }
}

// VitalsReport is the JSON body of one POST to /api/vitals.
interface VitalsReport {
  page: string;
  metrics: { name: string; value: number; rating: string; id: string; navigationType: string }[];
}

// reportVitals queues each metric (LCP, CLS, INP, FCP, TTFB) and sends the queue in one beacon when the
// page is hidden, which is when web-vitals finalises CLS and INP.
function reportVitals(endpoint: string): void {
  const queue = new Map<string, Metric>();
  // web-vitals finalises LCP and CLS in its own "hidden" listeners, which
  // may run after ours: a metric that arrives while the page is hidden is
  // sent at once (batched with any reported in the same task).
  let pending = false;
  const add = (m: Metric) => {
    queue.set(m.name, m);
    if (document.visibilityState === "hidden" && !pending) {
      pending = true;
      queueMicrotask(() => {
        pending = false;
        flush();
      });
    }
  };
  const flush = () => {
    if (queue.size === 0 || !navigator.sendBeacon) return;
    const report: VitalsReport = {
      page: location.pathname,
      metrics: [...queue.values()].map((m) => ({
        name: m.name,
        value: m.value,
        rating: m.rating,
        id: m.id,
        navigationType: m.navigationType,
      })),
    };
    queue.clear();
    navigator.sendBeacon(endpoint, new Blob([JSON.stringify(report)], { type: "application/json" }));
  };
  onLCP(add);
  onCLS(add);
  onINP(add);
  onFCP(add);
  onTTFB(add);
  addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
  addEventListener("pagehide", flush);
}

// hideBrokenLogos hides a logo that fails to load (a community's logo URL
// that moved) and shows the initial in its place, instead of a broken image.
function hideBrokenLogos(): void {
  const broken = (img: HTMLImageElement) => {
    img.hidden = true;
    img.nextElementSibling?.classList.remove("brand-mark-fallback");
  };
  const logos = "img.brand-logo, img.community-logo";
  document.querySelectorAll<HTMLImageElement>(logos).forEach((img) => {
    if (img.complete && img.naturalWidth === 0) broken(img);
  });
  document.addEventListener(
    "error",
    (e) => {
      const t = e.target;
      if (t instanceof HTMLImageElement && t.matches(logos)) broken(t);
    },
    true,
  );
}
