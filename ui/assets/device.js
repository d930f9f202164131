// /ui/devices/{id} — one device: identity, twin (tags and desired edited as
// JSON against the twin's etag, reported followed live), its telemetry
// live, direct methods, cloud-to-device messages with their feedback, and
// its modules with their twins.
import { el, clear, add, json, when, badge, card, field, withoutMeta } from './dom.js';
import { api, enc, events, connectionString, ApiError } from './api.js';
import { toast, every, copy } from './app.js';

export async function render(root, id) {
  document.title = `${id} · IoT Hub emulator`;
  const path = '/devices/' + enc(id);
  let device;
  try {
    device = await api('GET', path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      add(root, el('h1', null, id), el('p', { class: 'error' }, 'No device has this id. '), el('a', { href: '/ui/' }, 'Back to the devices'));
      return;
    }
    throw err;
  }

  const identity = el('dl', { class: 'props', id: 'identity' });
  const twin = twinEditor(id, '/twins/' + enc(id));
  const tele = telemetry(id);
  const method = methodForm('/twins/' + enc(id) + '/methods');
  const c2d = c2dForm(id);
  const modules = el('div', { id: 'modules' });

  add(root,
    el('div', { class: 'page-head' }, el('a', { href: '/ui/', class: 'muted' }, 'Devices ›'), el('h1', { id: 'device-id' }, id)),
    el('div', { class: 'columns' },
      el('div', null,
        card('Identity', identity),
        twin.node,
        card('Modules', modules)),
      el('div', null,
        tele.node,
        method,
        c2d.node)));

  function drawIdentity(d, conn) {
    const sas = d.authentication && d.authentication.type === 'sas';
    clear(identity, [
      ['Status', badge(d.status, d.status === 'enabled' ? 'ok' : 'warn')],
      ['Connection', conn ? badge('Connected', 'ok') : badge('Disconnected', 'off')],
      ['Connected since', conn ? when(conn.connectedAt) + ` over ${conn.listener}` : '—'],
      ['Last activity', when(d.lastActivityTime)],
      ['C2D queue', String(d.cloudToDeviceMessageCount ?? 0)],
      ['Authentication', d.authentication ? d.authentication.type : ''],
      ['IoT Edge', d.capabilities && d.capabilities.iotEdge ? 'yes' : 'no'],
      ['Generation', d.generationId],
      ['Etag', d.etag],
    ].map(([k, v]) => [el('dt', null, k), el('dd', null, v)]),
    sas ? [el('dt', null, 'Connection string'), el('dd', null,
      el('button', { type: 'button', id: 'copy-conn', onclick: () => copy(connectionString(id, d.authentication.symmetricKey.primaryKey), 'connection string') }, 'Copy'))] : null);
  }

  async function drawModules() {
    const list = await api('GET', path + '/modules');
    if (!list.length) {
      clear(modules, el('p', { class: 'muted' }, 'No modules.'));
      return;
    }
    const twins = await Promise.all(list.map((m) => api('GET', '/twins/' + enc(id) + '/modules/' + enc(m.moduleId)).catch(() => null)));
    clear(modules, list.map((m, i) => {
      const t = twins[i] || {};
      const props = t.properties || {};
      return el('details', { class: 'module' },
        el('summary', null, m.moduleId, ' ', badge(m.connectionState === 'Connected' ? 'Connected' : 'Disconnected', m.connectionState === 'Connected' ? 'ok' : 'off')),
        el('div', { class: 'module-twin' },
          el('h3', null, 'Tags'), el('pre', null, json(t.tags || {})),
          el('h3', null, 'Desired'), el('pre', null, json(withoutMeta(props.desired))),
          el('h3', null, 'Reported'), el('pre', null, json(withoutMeta(props.reported)))));
    }));
  }

  drawIdentity(device, null);
  await Promise.all([twin.load(), drawModules().catch((err) => clear(modules, el('p', { class: 'error' }, err.message)))]);

  every(2000, async () => {
    const [d, clients] = await Promise.all([api('GET', path), api('GET', '/emulator/clients')]);
    drawIdentity(d, clients.find((c) => c.deviceId === id && !c.moduleId));
    await twin.load();
  });
  every(3000, () => c2d.feedback());
}

// twinEditor edits tags and desired properties as JSON; saving sends a
// merge patch of the differences with If-Match, so a twin changed by
// someone else meanwhile is not overwritten.
function twinEditor(id, path) {
  const tags = el('textarea', { id: 'twin-tags', rows: 4, spellcheck: 'false' });
  const desired = el('textarea', { id: 'twin-desired', rows: 6, spellcheck: 'false' });
  const reported = el('pre', { id: 'twin-reported' });
  const etag = el('code', { id: 'twin-etag' });
  const version = el('span', { class: 'muted' });
  const status = el('span', { class: 'muted', id: 'twin-status' });
  let base = null; // {tags, desired, etag} the editors started from
  let dirty = false;
  for (const t of [tags, desired]) t.addEventListener('input', () => { dirty = true; status.textContent = 'edited, not saved'; });

  async function load() {
    const t = await api('GET', path);
    const p = t.properties || {};
    clearText(reported, json(withoutMeta(p.reported)));
    version.textContent = `desired v${p.desired?.$version ?? '?'}, reported v${p.reported?.$version ?? '?'}`;
    if (dirty) return;
    base = { tags: t.tags || {}, desired: withoutMeta(p.desired), etag: t.etag };
    setValue(tags, json(base.tags));
    setValue(desired, json(base.desired));
    etag.textContent = t.etag;
  }

  async function save(ev) {
    ev.preventDefault();
    let newTags, newDesired;
    try {
      newTags = JSON.parse(tags.value || '{}');
      newDesired = JSON.parse(desired.value || '{}');
    } catch (err) {
      status.textContent = 'Not JSON: ' + err.message;
      status.className = 'error';
      return;
    }
    const patch = {};
    const tp = mergePatch(base.tags, newTags);
    const dp = mergePatch(base.desired, newDesired);
    if (Object.keys(tp).length) patch.tags = tp;
    if (Object.keys(dp).length) patch.properties = { desired: dp };
    if (!Object.keys(patch).length) {
      status.textContent = 'Nothing changed.';
      dirty = false;
      return;
    }
    try {
      const t = await api('PATCH', path, { body: patch, headers: { 'If-Match': `"${base.etag}"` } });
      dirty = false;
      status.className = 'ok-text';
      status.textContent = `Saved: desired v${t.properties.desired.$version}`;
      toast('Twin saved');
      await load();
    } catch (err) {
      status.className = 'error';
      status.textContent = err.status === 412 ? 'The twin changed since you loaded it: Reload, then edit again.' : err.message;
    }
  }

  function reload() {
    dirty = false;
    status.textContent = '';
    load().catch((err) => toast(err.message, 'error'));
  }

  const node = card('Twin',
    el('form', { onsubmit: save, class: 'twin' },
      field('Tags', tags),
      field('Desired properties', desired),
      el('div', { class: 'row' },
        el('button', { type: 'submit', class: 'primary', id: 'twin-save' }, 'Save'),
        el('button', { type: 'button', onclick: reload }, 'Reload'),
        el('span', { class: 'muted' }, 'etag ', etag), version, status)),
    el('h3', null, 'Reported properties ', el('span', { class: 'live' }, 'live')),
    reported);
  return { node, load };
}

function setValue(textarea, v) {
  if (textarea.value !== v) textarea.value = v;
}

function clearText(e, v) {
  if (e.textContent !== v) e.textContent = v;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// mergePatch is the JSON merge patch turning from into to: removed keys
// become null.
export function mergePatch(from, to) {
  const p = {};
  for (const k of Object.keys(from || {})) if (!(k in to)) p[k] = null;
  for (const [k, v] of Object.entries(to)) {
    const old = from ? from[k] : undefined;
    if (isObj(v) && isObj(old)) {
      const sub = mergePatch(old, v);
      if (Object.keys(sub).length) p[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(old)) {
      p[k] = v;
    }
  }
  return p;
}

// telemetry follows the device's messages as server-sent events, starting
// with those of the last ten minutes.
function telemetry(id) {
  const list = el('ol', { class: 'messages', id: 'device-telemetry' });
  const count = el('span', { class: 'muted' }, '0 messages');
  let n = 0;
  const empty = el('li', { class: 'muted empty' }, 'Waiting for telemetry…');
  list.append(empty);
  events({ deviceId: id, fromEnqueuedTime: new Date(Date.now() - 10 * 60 * 1000).toISOString() }, (m) => {
    empty.remove();
    n++;
    count.textContent = `${n} message${n === 1 ? '' : 's'}`;
    list.prepend(messageItem(m));
    while (list.children.length > 100) list.lastChild.remove();
  });
  return { node: card('Telemetry', el('p', null, el('span', { class: 'live' }, 'live'), ' ', count), list) };
}

// messageItem renders one telemetry message: time, module, body, properties.
export function messageItem(m, withDevice) {
  const props = Object.entries(m.properties || {});
  const sys = m.systemProperties || {};
  return el('li', { class: 'message' },
    el('div', { class: 'meta' },
      el('time', { datetime: m.enqueuedTime }, new Date(m.enqueuedTime).toLocaleTimeString()),
      withDevice ? el('a', { href: '/ui/devices/' + enc(m.deviceId), class: 'device' }, m.deviceId) : null,
      m.moduleId ? el('span', { class: 'badge' }, 'module ' + m.moduleId) : null,
      sys['content-type'] ? el('span', { class: 'muted' }, sys['content-type']) : null,
      el('span', { class: 'muted' }, '#' + m.sequenceNumber)),
    el('code', { class: 'body' }, m.bodyText !== undefined && m.bodyText !== null ? m.bodyText : `(binary, base64) ${m.body}`),
    props.length ? el('div', { class: 'props-line' }, props.map(([k, v]) => el('span', { class: 'prop' }, el('b', null, k), '=', String(v)))) : null);
}

// methodForm invokes a direct method and shows the device's answer.
function methodForm(path) {
  const name = el('input', { type: 'text', id: 'method-name', placeholder: 'reboot', required: true });
  const payload = el('textarea', { id: 'method-payload', rows: 3, spellcheck: 'false' });
  payload.value = '{}';
  const timeout = el('input', { type: 'number', id: 'method-timeout', min: 5, max: 300, value: '10' });
  const out = el('div', { id: 'method-result', class: 'result' });
  async function invoke(ev) {
    ev.preventDefault();
    let body;
    try {
      body = { methodName: name.value.trim(), payload: payload.value.trim() ? JSON.parse(payload.value) : null, responseTimeoutInSeconds: Number(timeout.value) || 10 };
    } catch (err) {
      clear(out, el('p', { class: 'error' }, 'The payload is not JSON: ' + err.message));
      return;
    }
    clear(out, el('p', { class: 'muted' }, 'Waiting for the device…'));
    const started = performance.now();
    try {
      const r = await api('POST', path, { body });
      const ms = Math.round(performance.now() - started);
      clear(out, el('p', null, 'Status ', badge(String(r.status), r.status >= 200 && r.status < 300 ? 'ok' : 'warn'), el('span', { class: 'muted' }, ` in ${ms} ms`)),
        el('pre', { id: 'method-response' }, json(r.payload)));
    } catch (err) {
      clear(out, el('p', { class: 'error' }, err.message));
    }
  }
  return card('Direct method',
    el('form', { onsubmit: invoke },
      el('div', { class: 'row' }, field('Method name', name), field('Timeout (s)', timeout)),
      field('Payload (JSON)', payload),
      el('button', { type: 'submit', class: 'primary', id: 'method-invoke' }, 'Invoke')),
    out);
}

// c2dForm sends a cloud-to-device message and lists its delivery feedback.
function c2dForm(id) {
  const body = el('textarea', { id: 'c2d-body', rows: 3, spellcheck: 'false', placeholder: '{"command":"blink"}' });
  const props = el('textarea', { id: 'c2d-props', rows: 2, spellcheck: 'false', placeholder: 'one key=value a line' });
  const ack = el('select', { id: 'c2d-ack' }, ['full', 'positive', 'negative', 'none'].map((a) => el('option', { value: a }, a)));
  const out = el('p', { id: 'c2d-result', class: 'muted' });
  const fb = el('tbody', { id: 'c2d-feedback' });
  const sent = new Map(); // messageId → sent at
  async function send(ev) {
    ev.preventDefault();
    const properties = {};
    for (const line of props.value.split('\n')) {
      const t = line.trim();
      if (!t) continue;
      const i = t.indexOf('=');
      if (i < 1) {
        out.className = 'error';
        out.textContent = `“${t}” is not key=value`;
        return;
      }
      properties[t.slice(0, i).trim()] = t.slice(i + 1).trim();
    }
    try {
      const m = await api('POST', '/emulator/devices/' + enc(id) + '/messages/devicebound', { body: { body: body.value, properties, ack: ack.value } });
      sent.set(m.messageId, m.enqueuedTimeUtc);
      out.className = 'ok-text';
      out.textContent = `Queued ${m.messageId} (${m.state})`;
      await feedback();
    } catch (err) {
      out.className = 'error';
      out.textContent = err.message;
    }
  }
  async function feedback() {
    const all = await api('GET', '/emulator/messages/feedback');
    const mine = (all || []).filter((f) => f.deviceId === id).slice(-20).reverse();
    clear(fb, mine.length ? mine.map((f) => el('tr', null,
      el('td', null, f.originalMessageId),
      el('td', null, badge(f.statusCode, f.statusCode === 'Success' ? 'ok' : 'warn')),
      el('td', null, f.description || ''),
      el('td', null, when(f.enqueuedTimeUtc)))) : el('tr', null, el('td', { colspan: 4, class: 'muted' }, 'No feedback yet (it comes when the device completes or rejects a message sent with ack).')));
  }
  const node = card('Cloud-to-device message',
    el('form', { onsubmit: send },
      field('Body', body),
      el('div', { class: 'row' }, field('Properties', props), field('Ack', ack)),
      el('button', { type: 'submit', class: 'primary', id: 'c2d-send' }, 'Send')),
    out,
    el('h3', null, 'Feedback'),
    el('table', { class: 'grid small' }, el('thead', null, el('tr', null, ['Message', 'Status', 'Description', 'When'].map((h) => el('th', null, h)))), fb));
  return { node, feedback };
}
