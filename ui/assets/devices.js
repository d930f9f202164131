// /ui/ — the device list: one page of the registry at a time through the
// query API (so 100,000 devices cost one page), searched by id prefix,
// with connection states refreshed live from the emulator's client list.
import { el, clear, when, badge, field } from './dom.js';
import { api, query, quote, enc, connectionString } from './api.js';
import { toast, every, copy } from './app.js';

const pageSize = 50;

export async function render(root) {
  const url = new URL(location.href);
  let prefix = url.searchParams.get('q') || '';
  let tokens = ['']; // continuation token of each page seen, for Back
  let pageNo = 0;
  let rows = [];
  let next = '';
  let connected = new Map();

  const search = el('input', { type: 'search', placeholder: 'Search by device id prefix', value: prefix, id: 'search', autocomplete: 'off' });
  const newId = el('input', { type: 'text', placeholder: 'new-device-id', id: 'new-device-id', autocomplete: 'off' });
  const total = el('span', { class: 'muted', id: 'device-count' });
  const tbody = el('tbody', { id: 'device-rows' });
  const prev = el('button', { type: 'button', onclick: () => go(pageNo - 1) }, '‹ Previous');
  const nextBtn = el('button', { type: 'button', onclick: () => go(pageNo + 1) }, 'Next ›');
  const pageLabel = el('span', { class: 'muted' });

  const sql = () => 'SELECT * FROM devices' + (prefix ? ` WHERE STARTSWITH(deviceId, ${quote(prefix)})` : '');

  async function count() {
    const where = prefix ? ` WHERE STARTSWITH(deviceId, ${quote(prefix)})` : '';
    const r = await query('SELECT COUNT() AS n FROM devices' + where, { pageSize: 1 });
    const n = r.items[0] ? r.items[0].n : 0;
    total.textContent = `${n.toLocaleString()} device${n === 1 ? '' : 's'}` + (prefix ? ` starting with “${prefix}”` : '');
  }

  async function load() {
    const r = await query(sql(), { pageSize, continuation: tokens[pageNo] });
    rows = r.items;
    next = r.continuation;
    tokens[pageNo + 1] = next;
    draw();
  }

  async function go(n) {
    if (n < 0 || (n > pageNo && !next)) return;
    pageNo = n;
    await load();
  }

  function stateOf(d) {
    const c = connected.get(d.deviceId);
    if (c) return badge('Connected', 'ok');
    return badge(d.connectionState === 'Connected' ? 'Connected' : 'Disconnected', d.connectionState === 'Connected' ? 'ok' : 'off');
  }

  function draw() {
    clear(tbody, rows.length ? rows.map(row) : el('tr', null, el('td', { colspan: 7, class: 'muted empty' }, prefix ? 'No device id starts with that.' : 'No devices yet: create one above, or connect one with the SDKs.')));
    pageLabel.textContent = `Page ${pageNo + 1}`;
    prev.disabled = pageNo === 0;
    nextBtn.disabled = !next;
  }

  function row(d) {
    const id = d.deviceId;
    const disabled = d.status === 'disabled';
    return el('tr', { dataset: { deviceId: id } },
      el('td', null, el('a', { href: '/ui/devices/' + enc(id), class: 'device-link' }, id)),
      el('td', null, badge(d.status, disabled ? 'warn' : 'ok')),
      el('td', { class: 'conn' }, stateOf(d)),
      el('td', { title: d.lastActivityTime }, when(d.lastActivityTime)),
      el('td', { class: 'num' }, String(d.cloudToDeviceMessageCount ?? 0)),
      el('td', null, d.authenticationType || ''),
      el('td', { class: 'actions' },
        el('button', { type: 'button', onclick: () => copyConn(id), disabled: d.authenticationType !== 'sas', title: 'Copy the device connection string' }, 'Copy conn. string'),
        el('button', { type: 'button', onclick: () => setStatus(id, disabled ? 'enabled' : 'disabled') }, disabled ? 'Enable' : 'Disable'),
        el('button', { type: 'button', class: 'danger', onclick: () => remove(id) }, 'Delete')));
  }

  async function copyConn(id) {
    try {
      const d = await api('GET', '/devices/' + enc(id));
      copy(connectionString(id, d.authentication.symmetricKey.primaryKey), 'connection string');
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function setStatus(id, status) {
    try {
      const d = await api('GET', '/devices/' + enc(id));
      d.status = status;
      await api('PUT', '/devices/' + enc(id), { body: d, headers: { 'If-Match': `"${d.etag}"` } });
      toast(`${id} ${status}`);
      await load();
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function remove(id) {
    if (!confirm(`Delete device ${id}? Its twin, modules and queued messages go with it.`)) return;
    try {
      await api('DELETE', '/devices/' + enc(id), { headers: { 'If-Match': '*' } });
      toast(`${id} deleted`);
      await Promise.all([load(), count()]);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function create(ev) {
    ev.preventDefault();
    const id = newId.value.trim();
    if (!id) return;
    try {
      await api('PUT', '/devices/' + enc(id), { body: { deviceId: id } });
      newId.value = '';
      toast(`${id} created`);
      await Promise.all([load(), count()]);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      prefix = search.value.trim();
      const u = new URL(location.href);
      if (prefix) u.searchParams.set('q', prefix); else u.searchParams.delete('q');
      history.replaceState(null, '', u);
      tokens = [''];
      pageNo = 0;
      await Promise.all([load(), count()]);
    }, 250);
  });

  root.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Devices'), total),
    el('div', { class: 'toolbar' },
      search,
      el('form', { class: 'inline', onsubmit: create }, field('Create', newId), el('button', { type: 'submit', class: 'primary', id: 'create-device' }, 'Create device'))),
    el('table', { class: 'grid' },
      el('thead', null, el('tr', null, ['Device ID', 'Status', 'Connection', 'Last activity', 'C2D queue', 'Auth', ''].map((h) => el('th', null, h)))),
      tbody),
    el('div', { class: 'pager' }, prev, pageLabel, nextBtn));

  await Promise.all([load(), count()]);

  // Connection states change with every connect and disconnect: follow
  // the client list closely, and refresh the page's other columns too.
  every(1000, async () => {
    const clients = await api('GET', '/emulator/clients');
    const m = new Map();
    for (const c of clients) if (!c.moduleId) m.set(c.deviceId, c);
    const changed = m.size !== connected.size || [...m.keys()].some((k) => !connected.has(k));
    connected = m;
    if (changed) draw();
  });
  let ticks = 0;
  every(5000, async () => {
    if (ticks++ > 0 && document.visibilityState === 'visible') await load();
  });
}
