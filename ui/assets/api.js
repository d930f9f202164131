// Calls to the emulator's REST API through the dashboard's proxy, which
// signs them for this browser's session; writes carry the CSRF token.

let csrf = '';
export const session = { loggedIn: false, requireLogin: false, hostName: '', policy: '' };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function loadSession() {
  const r = await fetch('/ui/session', { credentials: 'same-origin', cache: 'no-store' });
  Object.assign(session, await r.json());
  csrf = session.csrfToken || '';
  delete session.csrfToken;
  return session;
}

export function csrfToken() {
  return csrf;
}

// message strips IoT Hub's "ErrorCode:Name;" prefix from an error body.
function message(text, status) {
  let m = text;
  try {
    m = JSON.parse(text).Message || text;
  } catch {
    // not JSON: the text itself
  }
  m = String(m || `HTTP ${status}`).replace(/^ErrorCode:[A-Za-z]+;/, '');
  return m;
}

function toLogin() {
  location.assign('/ui/login?next=' + encodeURIComponent(location.pathname + location.search));
}

// request calls path (a REST API path such as /devices/x) and returns the
// response and its text; errors throw ApiError.
export async function request(method, path, { body, headers = {} } = {}) {
  const h = { ...headers };
  if (method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = csrf;
  let b = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    b = JSON.stringify(body);
    h['Content-Type'] = h['Content-Type'] || 'application/json';
  }
  const r = await fetch('/ui/api' + path, { method, headers: h, body: b, credentials: 'same-origin', cache: 'no-store' });
  const text = await r.text();
  if (r.status === 401 && session.requireLogin) {
    toLogin();
  }
  if (!r.ok) throw new ApiError(r.status, message(text, r.status));
  return { response: r, text };
}

// api calls path and decodes the JSON answer (null for an empty one).
export async function api(method, path, opts) {
  const { text } = await request(method, path, opts);
  return text ? JSON.parse(text) : null;
}

// query runs an IoT Hub query for one page: {items, continuation}.
export async function query(sql, { pageSize = 50, continuation = '' } = {}) {
  const headers = { 'x-ms-max-item-count': String(pageSize) };
  if (continuation) headers['x-ms-continuation'] = continuation;
  const { response, text } = await request('POST', '/devices/query', { body: { query: sql }, headers });
  return { items: JSON.parse(text || '[]'), continuation: response.headers.get('x-ms-continuation') || '' };
}

// queryAll follows continuations up to limit items.
export async function queryAll(sql, limit = 5000) {
  let items = [];
  let continuation = '';
  do {
    const page = await query(sql, { pageSize: 1000, continuation });
    items = items.concat(page.items);
    continuation = page.continuation;
  } while (continuation && items.length < limit);
  return { items: items.slice(0, limit), truncated: !!continuation || items.length > limit };
}

// quote renders s as a query string literal.
export function quote(s) {
  return "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

// enc escapes one path segment (device ids may hold '#', '?', '%'...).
export function enc(s) {
  return encodeURIComponent(s);
}

// events opens the telemetry stream (server-sent events) with params.
export function events(params, onMessage) {
  const q = new URLSearchParams(params);
  const src = new EventSource('/ui/api/emulator/messages/events/stream?' + q.toString());
  src.addEventListener('message', (ev) => {
    try {
      onMessage(JSON.parse(ev.data));
    } catch (err) {
      console.error('telemetry event', err);
    }
  });
  return src;
}

// connectionString is a device's (or module's) connection string.
export function connectionString(deviceId, key, moduleId) {
  let s = `HostName=${session.hostName};DeviceId=${deviceId}`;
  if (moduleId) s += `;ModuleId=${moduleId}`;
  return s + `;SharedAccessKey=${key}`;
}
