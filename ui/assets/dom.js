// DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value set through the DOM, never as markup, so a device id,
// property or telemetry body cannot inject script.

// el builds an element: attrs are properties or attributes (on* names add
// listeners), children are nodes or values rendered as text.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  add(e, children);
  return e;
}

// add appends children (nodes, text, arrays of them) to e.
export function add(e, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// clear empties e and fills it anew.
export function clear(e, ...children) {
  e.replaceChildren();
  return add(e, children);
}

const svgNS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// json renders a value as indented JSON text.
export function json(v) {
  return JSON.stringify(v, null, 2);
}

// short is a one-line rendering of a value for table cells.
export function short(v, max = 160) {
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s === undefined) s = '';
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

// when renders an IoT Hub time, or a dash for the zero time.
export function when(t) {
  if (!t || t.startsWith('0001-01-01')) return '—';
  const d = new Date(t);
  if (isNaN(d)) return t;
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  if (secs < 60 && secs > -5) return `${Math.max(secs, 0)} s ago`;
  if (secs < 3600 && secs > 0) return `${Math.round(secs / 60)} min ago`;
  if (secs <= -5 && secs > -3600) return `in ${Math.ceil(-secs / 60)} min`;
  return d.toLocaleString();
}

export function badge(text, kind) {
  return el('span', { class: 'badge ' + (kind || '') }, text);
}

// withoutMeta drops the twin's $metadata and $version from a property set.
export function withoutMeta(o) {
  const out = {};
  for (const [k, v] of Object.entries(o || {})) if (!k.startsWith('$')) out[k] = v;
  return out;
}

// section is a titled card.
export function card(title, ...children) {
  return el('section', { class: 'card' }, el('h2', null, title), ...children);
}

// field is a labelled form control.
export function field(label, control) {
  return el('label', { class: 'field' }, el('span', null, label), control);
}
