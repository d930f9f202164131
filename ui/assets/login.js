// /ui/login — asks for a connection string of a policy with owner rights
// when the emulator is reachable beyond loopback or its keys are not the
// well-known ones. The key stays on the server; the browser keeps only an
// HttpOnly session cookie.
import { el, card, field } from './dom.js';
import { session } from './api.js';

export async function render(root) {
  const next = new URL(location.href).searchParams.get('next');
  const target = next && next.startsWith('/ui/') ? next : '/ui/';
  if (session.loggedIn && !session.requireLogin) {
    location.replace(target);
    return;
  }
  const cs = el('textarea', { id: 'login-cs', rows: 3, spellcheck: 'false', placeholder: 'HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…', autocomplete: 'off' });
  const out = el('p', { class: 'error', id: 'login-error' });
  async function submit(ev) {
    ev.preventDefault();
    out.textContent = '';
    const r = await fetch('/ui/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ connectionString: cs.value.trim() }), credentials: 'same-origin' });
    if (r.ok) {
      location.assign(target);
      return;
    }
    const body = await r.json().catch(() => ({}));
    out.textContent = body.Message || `HTTP ${r.status}`;
  }
  root.append(el('div', { class: 'narrow' }, card('Log in',
    el('p', null, 'This emulator asks for a service connection string with owner rights (RegistryRead, RegistryWrite, ServiceConnect — the iothubowner policy’s). It is checked against the hub and kept on the server for this session only.'),
    el('form', { onsubmit: submit }, field('Connection string', cs), el('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in')),
    out)));
}
