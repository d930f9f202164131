// /ui/telemetry — every device's telemetry as it arrives (server-sent
// events), filtered by device id, with a messages-per-second sparkline.
import { el, clear, svg } from './dom.js';
import { events } from './api.js';
import { messageItem } from './device.js';

const window_ = 60; // seconds the sparkline spans

export async function render(root) {
  const url = new URL(location.href);
  const filter = el('input', { type: 'search', id: 'telemetry-filter', placeholder: 'Filter by device id', value: url.searchParams.get('device') || '', autocomplete: 'off' });
  const list = el('ol', { class: 'messages', id: 'telemetry-list' });
  const rate = el('strong', { id: 'telemetry-rate' }, '0');
  const total = el('span', { class: 'muted', id: 'telemetry-total' }, '0 shown');
  const line = svg('polyline', { fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, points: '' });
  const area = svg('polygon', { class: 'spark-area', points: '' });
  const spark = svg('svg', { class: 'sparkline', id: 'telemetry-sparkline', viewBox: `0 0 ${window_ * 5} 40`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'messages per second, last minute' });
  spark.append(area, line);
  const buckets = new Map(); // unix second → count
  const kept = []; // recent messages, for refiltering
  let shown = 0;
  const empty = el('li', { class: 'muted empty' }, 'Waiting for telemetry from any device…');
  list.append(empty);

  const matches = (m) => {
    const f = filter.value.trim();
    return !f || m.deviceId.includes(f);
  };

  function show(m) {
    empty.remove();
    list.prepend(messageItem(m, true));
    while (list.children.length > 200) list.lastChild.remove();
  }

  filter.addEventListener('input', () => {
    const u = new URL(location.href);
    if (filter.value.trim()) u.searchParams.set('device', filter.value.trim()); else u.searchParams.delete('device');
    history.replaceState(null, '', u);
    clear(list);
    shown = 0;
    for (const m of kept) if (matches(m)) { show(m); shown++; }
    if (!shown) list.append(empty);
    total.textContent = `${shown} shown`;
    drawSpark();
  });

  events({}, (m) => {
    kept.push(m);
    if (kept.length > 500) kept.shift();
    if (!matches(m)) return;
    const s = Math.floor(Date.now() / 1000);
    buckets.set(s, (buckets.get(s) || 0) + 1);
    shown++;
    total.textContent = `${shown} shown`;
    show(m);
  });

  function drawSpark() {
    const now = Math.floor(Date.now() / 1000);
    for (const k of buckets.keys()) if (k < now - window_) buckets.delete(k);
    const counts = [];
    for (let s = now - window_ + 1; s <= now; s++) counts.push(buckets.get(s) || 0);
    const max = Math.max(1, ...counts);
    const pts = counts.map((c, i) => `${i * 5},${(38 - (c / max) * 36).toFixed(1)}`);
    line.setAttribute('points', pts.join(' '));
    area.setAttribute('points', `0,40 ${pts.join(' ')} ${(window_ - 1) * 5},40`);
    // The rate is that of the last full second.
    rate.textContent = String(counts[counts.length - 2] || 0);
    spark.setAttribute('data-max', String(max));
  }
  setInterval(drawSpark, 1000);
  drawSpark();

  root.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Telemetry'), el('span', { class: 'live' }, 'live')),
    el('div', { class: 'toolbar' }, filter,
      el('div', { class: 'rate' }, spark, el('span', null, rate, ' msg/s'), total)),
    list);
}
