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
export function table(head: Child[], rows: Child[][], className = 'jp-mf-Show-table'): HTMLTableElement {
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
 * An object's own HTML, isolated in an iframe with an empty `sandbox`: no
 * scripts, no same-origin access, no forms, no navigation of the page.
 */
export function sandboxedHtml(html: string, title: string): HTMLIFrameElement {
  const frame = h('iframe', 'jp-mf-Show-sandbox');
  frame.setAttribute('sandbox', '');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.title = title;
  frame.srcdoc = html;
  return frame;
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
