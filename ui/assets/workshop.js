// /ui/workshop — for instructors: devices grouped by a tag (a student's
// name, a table), showing at a glance who is connected, who has sent
// telemetry and who has reported a property. The tag is in the address
// (?tag=), so the view is a link.
import { el, clear, badge, withoutMeta } from './dom.js';
import { api, queryAll, events, enc } from './api.js';
import { every } from './app.js';

const limit = 5000; // devices shown; a workshop has far fewer

export async function render(root) {
  const url = new URL(location.href);
  const tag = el('input', { type: 'text', id: 'workshop-tag', value: url.searchParams.get('tag') || 'student', autocomplete: 'off' });
  const summary = el('div', { class: 'summary', id: 'workshop-summary' });
  const groups = el('div', { class: 'groups', id: 'workshop-groups' });
  const note = el('p', { class: 'muted' });
  let devices = [];
  let connected = new Set();
  const sent = new Map(); // deviceId → last telemetry time

  tag.addEventListener('change', () => {
    const u = new URL(location.href);
    u.searchParams.set('tag', tag.value.trim());
    history.replaceState(null, '', u);
    draw();
  });

  // Every kept message, then each new one: who has sent telemetry.
  events({ fromSequenceNumber: '0' }, (m) => {
    const had = sent.has(m.deviceId);
    sent.set(m.deviceId, m.enqueuedTime);
    if (!had) draw();
  });

  function tagOf(d) {
    let v = d.tags;
    for (const part of tag.value.trim().split('.')) {
      if (v === null || typeof v !== 'object') return undefined;
      v = v[part];
    }
    return v === undefined || v === null ? undefined : (typeof v === 'object' ? JSON.stringify(v) : String(v));
  }

  const reported = (d) => Object.keys(withoutMeta(d.properties && d.properties.reported)).length > 0;

  function draw() {
    const by = new Map();
    for (const d of devices) {
      const k = tagOf(d);
      const key = k === undefined ? '' : k;
      if (!by.has(key)) by.set(key, []);
      by.get(key).push(d);
    }
    const keys = [...by.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b, undefined, { numeric: true }));
    const n = devices.length;
    const nc = devices.filter((d) => connected.has(d.deviceId)).length;
    const nt = devices.filter((d) => sent.has(d.deviceId)).length;
    const nr = devices.filter(reported).length;
    clear(summary,
      stat(String(keys.filter((k) => k !== '').length), `groups by “${tag.value.trim()}”`),
      stat(`${nc}/${n}`, 'connected'),
      stat(`${nt}/${n}`, 'sent telemetry'),
      stat(`${nr}/${n}`, 'reported a property'));
    clear(groups, keys.map((k) => {
      const ds = by.get(k);
      const c = ds.filter((d) => connected.has(d.deviceId)).length;
      const t = ds.filter((d) => sent.has(d.deviceId)).length;
      const r = ds.filter(reported).length;
      return el('section', { class: 'card group', dataset: { group: k } },
        el('h2', null, k === '' ? `(no ${tag.value.trim()} tag)` : k),
        el('p', { class: 'muted counts' }, `${c}/${ds.length} connected · ${t}/${ds.length} telemetry · ${r}/${ds.length} reported`),
        el('ul', { class: 'checklist' }, ds.map((d) => el('li', { dataset: { deviceId: d.deviceId } },
          el('a', { href: '/ui/devices/' + enc(d.deviceId) }, d.deviceId),
          el('span', { class: 'checks' },
            check(connected.has(d.deviceId), 'connected'),
            check(sent.has(d.deviceId), 'telemetry', sent.get(d.deviceId)),
            check(reported(d), 'reported'))))));
    }));
  }

  function stat(value, label) {
    return el('div', { class: 'stat' }, el('strong', null, value), el('span', null, label));
  }

  function check(on, label, at) {
    const b = badge((on ? '✓ ' : '· ') + label, on ? 'ok' : 'off');
    if (at) b.title = 'last at ' + new Date(at).toLocaleTimeString();
    return b;
  }

  root.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Workshop')),
    el('div', { class: 'toolbar' }, el('label', { class: 'inline-field' }, 'Group by tag ', tag),
      el('span', { class: 'muted' }, 'a tag name, or a path such as team.name')),
    summary, note, groups);

  every(5000, async () => {
    const r = await queryAll('SELECT * FROM devices', limit);
    devices = r.items;
    note.textContent = r.truncated ? `Showing the first ${limit} devices.` : '';
    draw();
  });
  every(1000, async () => {
    const clients = await api('GET', '/emulator/clients');
    const s = new Set(clients.map((c) => c.deviceId));
    const changed = s.size !== connected.size || [...s].some((k) => !connected.has(k));
    connected = s;
    if (changed) draw();
  });
}
