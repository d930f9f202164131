// /ui/query — runs IoT Hub's query language, shows the rows as a table a
// page at a time, and marks where a bad query goes wrong. The query is in
// the address (?q=), so a query is a link.
import { el, clear, short } from './dom.js';
import { query } from './api.js';

export async function render(root) {
  const url = new URL(location.href);
  const text = el('textarea', { id: 'query-text', rows: 4, spellcheck: 'false' });
  text.value = url.searchParams.get('q') || 'SELECT * FROM devices';
  const size = el('input', { type: 'number', id: 'query-page-size', min: 1, max: 1000, value: '100' });
  const out = el('div', { id: 'query-result' });
  const info = el('p', { class: 'muted', id: 'query-info' });
  let tokens = [''];
  let pageNo = 0;
  let sql = '';

  async function run(n) {
    pageNo = n;
    try {
      const r = await query(sql, { pageSize: Number(size.value) || 100, continuation: tokens[n] });
      tokens[n + 1] = r.continuation;
      info.textContent = `Page ${n + 1}: ${r.items.length} row${r.items.length === 1 ? '' : 's'}${r.continuation ? ', more follow' : ''}`;
      clear(out, table(r.items), el('div', { class: 'pager' },
        el('button', { type: 'button', disabled: n === 0, onclick: () => run(n - 1) }, '‹ Previous'),
        el('button', { type: 'button', disabled: !r.continuation, id: 'query-next', onclick: () => run(n + 1) }, 'Next ›')));
    } catch (err) {
      info.textContent = '';
      clear(out, errorView(sql, err.message));
    }
  }

  function submit(ev) {
    ev.preventDefault();
    sql = text.value.trim();
    if (!sql) return;
    const u = new URL(location.href);
    u.searchParams.set('q', sql);
    history.replaceState(null, '', u);
    tokens = [''];
    run(0);
  }

  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });

  root.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Query')),
    el('form', { onsubmit: submit, class: 'query' },
      text,
      el('div', { class: 'row' },
        el('button', { type: 'submit', class: 'primary', id: 'query-run' }, 'Run'),
        el('label', { class: 'inline-field' }, 'Page size ', size),
        el('span', { class: 'muted' }, 'Ctrl+Enter runs. Examples: SELECT deviceId, tags FROM devices WHERE status = \'enabled\' · SELECT COUNT() AS n FROM devices GROUP BY connectionState'))),
    info,
    out);
  if (url.searchParams.get('q')) submit(new Event('submit'));
}

function table(items) {
  if (!items.length) return el('p', { class: 'muted' }, 'No rows.');
  const cols = [];
  for (const it of items) {
    for (const k of Object.keys(typeof it === 'object' && it !== null ? it : { value: it })) if (!cols.includes(k)) cols.push(k);
  }
  return el('div', { class: 'scroll' }, el('table', { class: 'grid', id: 'query-table' },
    el('thead', null, el('tr', null, cols.map((c) => el('th', null, c)))),
    el('tbody', null, items.map((it) => {
      const o = typeof it === 'object' && it !== null ? it : { value: it };
      return el('tr', null, cols.map((c) => {
        const v = o[c];
        const full = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
        return el('td', { title: full && full.length > 160 ? full : null, class: typeof v === 'object' && v !== null ? 'json' : '' }, v === undefined ? '' : short(v));
      }));
    }))));
}

// errorView shows the message and, when it names a position, the query
// with that character marked.
function errorView(sql, msg) {
  const m = /position (\d+)/.exec(msg);
  const parts = [el('p', { class: 'error', id: 'query-error' }, msg)];
  if (m) {
    const pos = Math.min(Math.max(Number(m[1]) - 1, 0), sql.length);
    parts.push(el('pre', { class: 'query-marked', id: 'query-error-at' },
      sql.slice(0, pos),
      el('mark', null, sql.slice(pos, pos + 1) || ' '),
      sql.slice(pos + 1),
      '\n' + ' '.repeat(lineCol(sql, pos)) + '^ position ' + m[1]));
  }
  return parts;
}

function lineCol(sql, pos) {
  const before = sql.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  return before.length - nl - 1;
}
