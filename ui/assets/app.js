// The dashboard's entry point: it reads the session, draws the header and
// runs the page the address names. Pages are plain links, so every page
// has a stable deep link.
import { el, clear } from './dom.js';
import { loadSession, session, csrfToken } from './api.js';

const pages = [
  [/^\/ui\/$/, 'devices', () => import('./devices.js')],
  [/^\/ui\/devices\/([^/]+)$/, 'devices', () => import('./device.js')],
  [/^\/ui\/query$/, 'query', () => import('./query.js')],
  [/^\/ui\/telemetry$/, 'telemetry', () => import('./telemetry.js')],
  [/^\/ui\/workshop$/, 'workshop', () => import('./workshop.js')],
  [/^\/ui\/hub$/, 'hub', () => import('./hub.js')],
  [/^\/ui\/login$/, '', () => import('./login.js')],
];

let toastTimer;

// toast shows a short message at the bottom of the page.
export function toast(text, kind = '') {
  const t = document.getElementById('toast');
  t.className = 'toast show ' + kind;
  t.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = 'toast'; }, kind === 'error' ? 6000 : 2500);
}

// every runs fn now and then every ms milliseconds while the page is open,
// never two at once.
export function every(ms, fn) {
  let stopped = false;
  const loop = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (err) {
      console.warn(err);
    }
    if (!stopped) setTimeout(loop, ms);
  };
  loop();
  return () => { stopped = true; };
}

// copy puts text on the clipboard, or shows it for copying by hand.
export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied to the clipboard`);
  } catch {
    window.prompt(`Copy the ${what}:`, text);
  }
}

function header() {
  const who = document.getElementById('who');
  const parts = [el('span', { class: 'muted' }, session.hostName)];
  if (session.loggedIn) parts.push(el('span', { class: 'badge ok' }, session.policy || 'owner'));
  if (session.requireLogin && session.loggedIn) {
    parts.push(el('button', {
      class: 'link', type: 'button', onclick: async () => {
        await fetch('/ui/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrfToken() } });
        location.assign('/ui/login');
      },
    }, 'Log out'));
  }
  clear(who, parts);
}

async function main() {
  const root = document.getElementById('main');
  const path = location.pathname;
  const page = pages.find(([re]) => re.test(path));
  try {
    await loadSession();
  } catch (err) {
    clear(root, el('p', { class: 'error' }, 'The emulator does not answer: ' + err.message));
    return;
  }
  header();
  for (const a of document.querySelectorAll('#nav a')) {
    if (page && a.dataset.page === page[1]) a.classList.add('active');
  }
  if (!page) {
    clear(root, el('p', { class: 'error' }, 'No such page.'));
    return;
  }
  if (!session.loggedIn && page[1] !== '') {
    location.assign('/ui/login?next=' + encodeURIComponent(path + location.search));
    return;
  }
  const params = path.match(page[0]).slice(1).map(decodeURIComponent);
  const mod = await page[2]();
  clear(root);
  try {
    await mod.render(root, ...params);
  } catch (err) {
    root.append(el('p', { class: 'error' }, err.message));
  }
  document.body.dataset.ready = 'true';
}

main();
