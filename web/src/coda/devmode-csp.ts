// xterm.js styles itself with <style> elements and style attributes, which
// the site's Content Security Policy (style-src 'self', no inline styles)
// refuses. This module, imported before xterm on the terminal page only,
// routes both through the CSSOM, which the policy allows: a <style> that
// xterm creates becomes an inert element whose text is applied as a
// constructed stylesheet, and setAttribute("style", …) becomes
// style.cssText.

const realCreate = Document.prototype.createElement;

// cssomStyle stands in for a <style> element.
function cssomStyle(doc: Document): HTMLElement {
  const el = realCreate.call(doc, "devmode-style") as HTMLElement;
  el.hidden = true;
  const sheet = new CSSStyleSheet();
  let text = "";
  let adopted = false;
  Object.defineProperty(el, "textContent", {
    get: () => text,
    set: (v: string | null) => {
      text = v ?? "";
      sheet.replaceSync(text);
      if (!adopted) {
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
        adopted = true;
      }
    },
  });
  const remove = el.remove.bind(el);
  el.remove = () => {
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
    adopted = false;
    remove();
  };
  return el;
}

Document.prototype.createElement = function (this: Document, tag: string, opts?: ElementCreationOptions) {
  if (tag.toLowerCase() === "style") return cssomStyle(this);
  return realCreate.call(this, tag, opts);
} as typeof Document.prototype.createElement;

const realSetAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (this: Element, name: string, value: string) {
  if (name.toLowerCase() === "style" && this instanceof HTMLElement) {
    this.style.cssText = value;
    return;
  }
  realSetAttribute.call(this, name, value);
};

export {};
