// Shared by every page: the API client, sign-in handling, the layout and small DOM helpers.
// Every value from the API is inserted as text (textContent / text nodes), never as HTML.

const TOKEN_KEY = 'provenant.apiToken';
// Set instead of a token when this tab signed in with SSO: the session is an HttpOnly cookie
// that no script reads, and every change carries the session's CSRF token from `/api/me`.
const SSO_KEY = 'provenant.sso';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || (usesSso() ? 'session' : null);
}

export function usesSso() {
  return sessionStorage.getItem(SSO_KEY) === '1';
}

export function setToken(value) {
  sessionStorage.removeItem(SSO_KEY);
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function useSso() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem(SSO_KEY, '1');
}

/** Back to the sign-in page; a person who clicked "Sign out" also ends their session. */
export async function signOut(reason) {
  if (usesSso() && !reason) {
    try {
      await api('DELETE', '/session');
    } catch {
      // Ended already: signed out all the same.
    }
  }
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SSO_KEY);
  const next = encodeURIComponent(location.pathname + location.search);
  location.replace(`/signin?next=${next}${reason ? `&reason=${reason}` : ''}`);
}

/** Sends a page to sign-in when the browser session has no token yet. */
export function requireToken() {
  if (!token()) {
    signOut();
    throw new Error('not signed in');
  }
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.field = problem?.field;
  }
}

/** One API path segment from untrusted text (an id from the address bar), so a crafted link
 * cannot point the page, and the token it sends, at another API path: encoded, and a segment of
 * nothing but dots (which URL parsers read as a step, even percent-encoded) names nothing. */
export function segment(value) {
  return /^\.*$/.test(value) ? '-' : encodeURIComponent(value);
}

/** Calls the JSON API; a 401 anywhere returns to the sign-in screen. */
/** What a request by this page carries to say who it is: the token, or the session's CSRF
 * token for a change (the session cookie goes by itself). */
export async function authHeaders(method) {
  const headers = {};
  if (usesSso()) {
    if (method !== 'GET') headers['X-CSRF-Token'] = (await access()).csrfToken;
  } else {
    headers.Authorization = `Bearer ${token()}`;
  }
  return headers;
}

export async function api(method, path, body) {
  const headers = await authHeaders(method);
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api${path}`, init);
  if (response.status === 401) {
    signOut('expired');
    throw new ApiError(401, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Creates an element. `attrs`: attributes, plus `on*` handlers and `dataset`; children are
 * nodes or strings (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Page, path, label, and what the caller must be able to do to use it (see `access`). */
const NAV = [
  ['integrations', '/', 'Integrations', 'read'],
  ['secrets', '/secrets', 'Secrets', 'read'],
  ['eval-runs', '/eval-runs', 'Eval runs'],
  ['deployments', '/deployments', 'Deployments'],
  ['notifications', '/notifications', 'Notifications', 'read'],
  ['outbox', '/outbox', 'Outbox', 'read'],
  ['tokens', '/tokens', 'API tokens', 'admin'],
  ['audit', '/audit', 'Audit log', 'read'],
  ['settings', '/settings', 'Settings', 'read'],
];

/** What each scope lets the pages show: `read` pages, `write` and `admin` buttons. */
const MAY = { read: ['read'], 'runs:write': ['runs'], write: ['read', 'write'], admin: ['read', 'write', 'admin'] };

let accessAsked;

/** Who the signed-in token is and its scopes (`GET /api/me`), asked once per page. */
export function access() {
  accessAsked ||= api('GET', '/me');
  return accessAsked;
}

/** Hides what the caller may not do: an element with `data-needs="write"` (or `admin`, or
 * `read`) stays hidden unless the caller's scopes allow it (style.css). The API refuses such
 * calls anyway; this only keeps buttons that would fail off the page. */
function showWhatIsAllowed(who) {
  access()
    .then((me) => {
      document.body.dataset.may = [...new Set(me.scopes.flatMap((s) => MAY[s] || []))].join(' ');
      who.textContent = me.actor;
      who.hidden = false;
    })
    .catch(() => {});
}

/** The page frame: sidebar and main area. Returns the main element. */
export function layout(active, title) {
  document.title = `${title} · Provenant`;
  const who = el('p', { class: 'signed-in-as muted', id: 'signed-in-as', hidden: true });
  const nav = el(
    'nav',
    { class: 'sidebar', 'aria-label': 'Main' },
    el('a', { class: 'brand', href: '/' }, el('img', { src: '/assets/icons/logo.svg', alt: '', width: 24, height: 24 }), 'Provenant'),
    el(
      'ul',
      {},
      NAV.map(([key, href, label, needs]) =>
        el('li', { dataset: needs ? { needs } : {} }, el('a', { href, 'aria-current': key === active ? 'page' : null }, label)),
      ),
      el('li', {}, el('a', { href: '/api/docs' }, 'API explorer')),
    ),
    who,
    el('button', { type: 'button', class: 'link sign-out', onclick: () => signOut() }, 'Sign out'),
  );
  showWhatIsAllowed(who);
  const main = el('main', { id: 'main' });
  const banner = el('section', { class: 'alerts-banner', id: 'alerts-banner', 'aria-label': 'Open alerts', hidden: true });
  document.body.replaceChildren(el('div', { class: 'shell' }, nav, el('div', { class: 'page' }, banner, main)));
  showAlerts(banner);
  return main;
}

/** How often the banner asks again, in milliseconds. */
const ALERTS_EVERY = 30_000;

/** The open alerts (`GET /api/alerts`) above every page, asked again every half minute. */
function showAlerts(banner) {
  const render = (list) => {
    const open = list.open || [];
    banner.hidden = open.length === 0;
    // Answered at least once: an empty banner is "no alerts", not "not asked yet".
    banner.dataset.loaded = 'true';
    if (!open.length) return banner.replaceChildren();
    banner.replaceChildren(
      el('h2', {}, open.length === 1 ? '1 open alert' : `${open.length} open alerts`),
      el(
        'ul',
        {},
        open.map((a) => {
          // The link is this server's page: followed within the origin the page came from.
          let href = null;
          try {
            const url = new URL(a.link);
            href = url.pathname + url.search + url.hash;
          } catch {}
          return el(
            'li',
            { dataset: { condition: a.condition } },
            el('strong', {}, a.title),
            a.subjectName ? ` · ${a.subjectName}` : '',
            `: ${a.summary} (since `,
            timeText(a.since),
            ')',
            href ? el('a', { href, class: 'alert-link' }, 'Look') : '',
          );
        }),
      ),
    );
  };
  const ask = () => api('GET', '/alerts').then(render, () => {});
  ask();
  setInterval(ask, ALERTS_EVERY);
}

export function pageHeader(title, ...actions) {
  return el('header', { class: 'page-header' }, el('h1', {}, title), el('div', { class: 'actions' }, actions));
}

export function statusBadge(status) {
  return el('span', { class: `badge status-${String(status).toLowerCase()}` }, status);
}

const TYPE_MARKS = { GITHUB: 'GitHub', GITLAB: 'GitLab', SLACK: 'Slack', WEBHOOK: 'Webhook' };

export function typeMark(type) {
  return el(
    'span',
    { class: `type-mark type-${String(type).toLowerCase()}` },
    el('img', { src: `/assets/icons/${String(type).toLowerCase()}.svg`, alt: '', width: 16, height: 16 }),
    TYPE_MARKS[type] || type,
  );
}

/** "3 min ago", with the exact time on hover. */
export function timeText(iso) {
  if (!iso) return el('span', { class: 'muted' }, '—');
  return el('time', { datetime: iso, title: new Date(iso).toLocaleString() }, relative(iso));
}

export function relative(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  // A time to come (until when an old secret is accepted, say).
  if (seconds < -5) {
    const ahead = -seconds;
    if (ahead < 60) return `in ${ahead} s`;
    if (ahead < 3600) return `in ${Math.floor(ahead / 60)} min`;
    if (ahead < 86400) return `in ${Math.floor(ahead / 3600)} h`;
    return `in ${Math.floor(ahead / 86400)} d`;
  }
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function copyButton(text, label = 'Copy') {
  const button = el('button', { type: 'button', class: 'small' }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
    setTimeout(() => (button.textContent = label), 1500);
  });
  return button;
}

export function errorBox(error) {
  return el('p', { class: 'error', role: 'alert' }, error instanceof ApiError || error instanceof Error ? error.message : String(error));
}

/** A JSON value shown as indented text. */
export function pretty(value) {
  return el('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}
