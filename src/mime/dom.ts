/**
 * Small DOM builders for the `%mf_show` renderer. Text always goes in as text
 * nodes (`textContent`); there is no path from data to `innerHTML` here.
 */

/** Children accepted by {@link h}: elements, or strings/numbers turned into text nodes. */
export type Child = Node | string | number | null | undefined | false;

/** `document.createElement(tag)` with a class name and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) {
    el.className = className;
  }
  append(el, ...children);
  return el;
}

/** Append children, strings as text nodes. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** A table with a text header row and text (or element) cells. */
export function table(
  head: Child[],
  rows: Child[][],
  className = 'jp-mf-Show-table'
): HTMLTableElement {
  const el = h('table', className);
  const thead = h('thead');
  const tr = h('tr');
  for (const cell of head) {
    tr.appendChild(h('th', '', cell));
  }
  thead.appendChild(tr);
  el.appendChild(thead);
  const tbody = h('tbody');
  for (const row of rows) {
    const line = h('tr');
    for (const cell of row) {
      line.appendChild(h('td', '', cell));
    }
    tbody.appendChild(line);
  }
  el.appendChild(tbody);
  return el;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** An `<img>` for a base64 PNG; null if `png` is not plain base64. */
export function pngImage(png: string, alt: string): HTMLImageElement | null {
  if (!BASE64.test(png)) {
    return null;
  }
  const img = h('img', 'jp-mf-Show-image');
  img.alt = alt;
  img.src = `data:image/png;base64,${png}`;
  return img;
}

/**
 * An object's own HTML, isolated in an iframe whose `sandbox` allows no scripts,
 * forms, popups or navigation of the page. `allow-same-origin` (without
 * `allow-scripts`, nothing in the frame runs) lets the page size the frame to
 * its content, so it never scrolls inside the notebook's scroll; the document
 * gets the theme's colours, written again when the theme changes.
 */
export function sandboxedHtml(html: string, title: string): HTMLIFrameElement {
  const frame = h('iframe', 'jp-mf-Show-sandbox');
  frame.setAttribute('sandbox', 'allow-same-origin');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('scrolling', 'no');
  frame.title = title;
  const write = () => {
    frame.srcdoc =
      '<!DOCTYPE html><html><head><meta charset="utf-8">' +
      `<style>${themeStyle()}</style></head><body>${html}</body></html>`;
  };
  write();
  frame.addEventListener('load', () => fitToContent(frame));
  const themeWatch = new MutationObserver(() => {
    if (!frame.isConnected && frame.dataset.jpMfShown) {
      themeWatch.disconnect();
    } else {
      write();
    }
  });
  themeWatch.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light'] });
  return frame;
}

/** Size `frame` to its document, and again whenever that document's size changes. */
function fitToContent(frame: HTMLIFrameElement): void {
  const doc = frame.contentDocument;
  if (!doc?.documentElement) {
    return;
  }
  frame.dataset.jpMfShown = 'true';
  const fit = () => {
    frame.style.height = `${Math.ceil(doc.documentElement.scrollHeight)}px`;
  };
  fit();
  if (typeof ResizeObserver !== 'undefined' && doc.body) {
    new ResizeObserver(fit).observe(doc.body);
  }
}

/** A CSS colour from the page's theme variable, or `fallback` (only colour characters kept). */
function themeColor(styles: CSSStyleDeclaration, name: string, fallback: string): string {
  const value = styles.getPropertyValue(name).trim() || fallback;
  return /^[#\w\s(),.%-]+$/.test(value) ? value : fallback;
}

/**
 * The frame document's stylesheet: the notebook's font and colours (a frame
 * cannot read the page's CSS variables), and scikit-learn's diagram colours for
 * the theme (its own script, which would pick them, does not run here).
 */
export function themeStyle(): string {
  const styles = getComputedStyle(document.body);
  const dark = document.body.dataset.jpThemeLight === 'false';
  const background = themeColor(styles, '--jp-layout-color0', dark ? '#111' : 'white');
  const text = themeColor(styles, '--jp-content-font-color1', dark ? '#e0e0e0' : 'black');
  const muted = themeColor(styles, '--jp-content-font-color2', dark ? '#aaa' : '#666');
  const font = styles.getPropertyValue('--jp-content-font-family').replace(/[^\w\s,'"-]/g, '');
  return (
    `:root{color-scheme:${dark ? 'dark' : 'light'}}` +
    `html,body{margin:0;overflow:hidden;background:${background};color:${text};` +
    `font-family:${font || 'sans-serif'};font-size:13px}` +
    'body .sk-global.sk-global{' +
    // labels sit on scikit-learn's pastel boxes in both themes: its own dark mode keeps them black
    '--sklearn-color-text:black;--sklearn-color-text-muted:#666;' +
    `--sklearn-color-text-on-default-background:${text};--sklearn-color-background:${background};` +
    `--sklearn-color-border-box:${text};--sklearn-color-icon:${muted}}`
  );
}

/** `1.5 MB` style sizes. */
export function humanBytes(count: number): string {
  let size = count;
  for (const unit of ['B', 'KB', 'MB', 'GB']) {
    if (size < 1024 || unit === 'GB') {
      return unit === 'B' ? `${size} B` : `${size.toFixed(1)} ${unit}`;
    }
    size /= 1024;
  }
  return `${size.toFixed(1)} TB`;
}

/** Thousands separators. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
