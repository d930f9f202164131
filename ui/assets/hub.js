// /ui/hub — hub state: registry counts, connected clients, the injected
// faults (add, remove, clear), reset, and export/import of seed documents.
import { el, clear, json, when, card, field } from './dom.js';
import { api, request } from './api.js';
import { toast, every } from './app.js';

export async function render(root) {
  const stats = el('div', { class: 'summary', id: 'hub-stats' });
  const clients = el('tbody', { id: 'hub-clients' });
  const faults = el('tbody', { id: 'hub-faults' });
  const faultText = el('textarea', { id: 'fault-json', rows: 3, spellcheck: 'false' });
  faultText.value = '{"fault": "refuseConnects", "deviceId": "my-device", "durationSeconds": 30}';
  const file = el('input', { type: 'file', id: 'import-file', accept: '.yaml,.yml,.json' });
  const importOut = el('pre', { id: 'import-result', class: 'muted' });

  async function loadStats() {
    const [s, cs] = await Promise.all([api('GET', '/statistics/devices'), api('GET', '/emulator/clients')]);
    clear(stats,
      stat(s.totalDeviceCount, 'devices'),
      stat(s.enabledDeviceCount, 'enabled'),
      stat(s.disabledDeviceCount, 'disabled'),
      stat(cs.length, 'connected clients'));
    clear(clients, cs.length ? cs.map((c) => el('tr', null,
      el('td', null, c.deviceId), el('td', null, c.moduleId || ''), el('td', null, c.listener),
      el('td', null, when(c.connectedAt)), el('td', null, c.remoteAddress))) :
      el('tr', null, el('td', { colspan: 5, class: 'muted' }, 'No device is connected.')));
  }

  async function loadFaults() {
    const fs = await api('GET', '/emulator/faults');
    clear(faults, fs.length ? fs.map((f) => {
      const { id, fault, ...rest } = f;
      return el('tr', null, el('td', null, id),
        el('td', null, el('span', { class: 'fault-kind' }, fault),
          Object.entries(rest).map(([k, v]) => el('span', { class: 'fault-detail' }, `${k} ${/^(start|end|until|from)/i.test(k) && typeof v === 'string' ? when(v) : typeof v === 'object' ? JSON.stringify(v) : v}`))),
        el('td', null, el('button', { type: 'button', onclick: () => removeFault(id) }, 'Remove')));
    }) : el('tr', null, el('td', { colspan: 3, class: 'muted' }, 'No fault is in effect.')));
  }

  async function act(fn, done) {
    try {
      await fn();
      if (done) toast(done);
    } catch (err) {
      toast(err.message, 'error');
    }
    await Promise.all([loadFaults(), loadStats()]).catch(() => {});
  }

  const removeFault = (id) => act(() => api('DELETE', '/emulator/faults/' + encodeURIComponent(id)), `Fault ${id} removed`);

  function addFault(ev) {
    ev.preventDefault();
    let f;
    try {
      f = JSON.parse(faultText.value);
    } catch (err) {
      toast('Not JSON: ' + err.message, 'error');
      return;
    }
    act(() => api('POST', '/emulator/faults', { body: f }), 'Fault added');
  }

  function reset() {
    if (!confirm('Reset the hub? Every device, module, twin, queued message and fault is deleted.')) return;
    act(() => api('POST', '/emulator/reset'), 'The hub was reset');
  }

  async function exportAs(format) {
    try {
      const { text } = await request('GET', '/emulator/export?format=' + format);
      const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: format === 'json' ? 'application/json' : 'application/yaml' })), download: 'hub.' + format });
      document.body.append(a);
      a.click();
      a.remove();
      toast('Exported: the file holds device keys, keep it safe');
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function importFile(ev) {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const type = /\.json$/i.test(f.name) ? 'application/json' : 'application/yaml';
    try {
      const r = await api('POST', '/emulator/import', { body: await f.text(), headers: { 'Content-Type': type } });
      importOut.className = '';
      importOut.textContent = json(r);
      toast('Imported');
    } catch (err) {
      importOut.className = 'error';
      importOut.textContent = err.message;
    }
    loadStats().catch(() => {});
  }

  function stat(value, label) {
    return el('div', { class: 'stat' }, el('strong', null, String(value)), el('span', null, label));
  }

  root.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Faults & hub')),
    stats,
    el('div', { class: 'columns' },
      el('div', null,
        card('Injected faults',
          el('table', { class: 'grid small' }, el('thead', null, el('tr', null, ['Id', 'Fault', ''].map((h) => el('th', null, h)))), faults),
          el('form', { onsubmit: addFault },
            field('Add a fault (JSON, see docs/faults.md)', faultText),
            el('div', { class: 'row' },
              el('button', { type: 'submit', class: 'primary', id: 'fault-add' }, 'Add fault'),
              el('button', { type: 'button', id: 'fault-clear', onclick: () => act(() => api('DELETE', '/emulator/faults'), 'Every fault cleared') }, 'Clear all')))),
        card('Connected clients',
          el('table', { class: 'grid small' }, el('thead', null, el('tr', null, ['Device', 'Module', 'Listener', 'Since', 'Remote'].map((h) => el('th', null, h)))), clients))),
      el('div', null,
        card('Seed documents',
          el('p', { class: 'muted' }, 'An export holds every device and module with its keys and twins; importing one applies it (creates what is missing, resets what differs).'),
          el('div', { class: 'row' },
            el('button', { type: 'button', id: 'export-yaml', onclick: () => exportAs('yaml') }, 'Export YAML'),
            el('button', { type: 'button', id: 'export-json', onclick: () => exportAs('json') }, 'Export JSON')),
          el('form', { onsubmit: importFile, class: 'row' }, file, el('button', { type: 'submit', id: 'import-run' }, 'Import')),
          importOut),
        card('Reset',
          el('p', { class: 'muted' }, 'Deletes every identity, twin, queued message and fault, as a fresh start.'),
          el('button', { type: 'button', class: 'danger', id: 'hub-reset', onclick: reset }, 'Reset the hub')))));

  every(2000, () => Promise.all([loadStats(), loadFaults()]));
}
