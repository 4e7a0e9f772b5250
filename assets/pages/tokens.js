import { api, clear, copyButton, el, errorBox, layout, pageHeader, requireToken, timeText } from '/assets/app.js';

requireToken();
const main = layout('tokens', 'API tokens');
const list = el('section', { id: 'tokens-list' });
const message = el('div', { id: 'tokens-message', 'aria-live': 'polite' });

const SCOPES = [
  ['read', 'Every GET; secret values are never readable.'],
  ['runs:write', 'List eval runs and deployments and update their status; nothing else.'],
  ['write', 'Read, plus integrations, retries, replays, dry runs, tests and reconcile.'],
  ['admin', 'Everything: tokens, secrets, rotation.'],
];

const name = el('input', { id: 'token-name', type: 'text', maxlength: 64, placeholder: 'eval-platform', required: true });
const expires = el('input', { id: 'token-expires', type: 'date', 'aria-describedby': 'token-expires-hint' });
const scopeBoxes = SCOPES.map(([scope, hint]) =>
  el(
    'label',
    { class: 'check' },
    el('input', { type: 'checkbox', name: 'scope', value: scope, id: `scope-${scope.replace(':', '-')}` }),
    el('code', {}, scope),
    ' ',
    el('span', { class: 'hint' }, hint),
  ),
);
const form = el(
  'form',
  { class: 'card form', id: 'token-form' },
  el('h2', {}, 'Make a token'),
  el('label', { for: 'token-name' }, 'Name'),
  name,
  el('fieldset', {}, el('legend', {}, 'Scopes'), scopeBoxes),
  el('label', { for: 'token-expires' }, 'Expires (optional)'),
  expires,
  el('p', { class: 'hint', id: 'token-expires-hint' }, 'At the start of that day, UTC. Leave empty for a token that does not expire.'),
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', id: 'make-token' }, 'Make token')),
);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((box) => box.value);
  const body = { name: name.value.trim(), scopes };
  if (expires.value) body.expiresAt = `${expires.value}T00:00:00Z`;
  try {
    const made = await api('POST', '/tokens', body);
    clear(
      message,
      el(
        'div',
        { class: 'card notice', id: 'new-token' },
        el('p', {}, 'Copy the token now: it is not shown again.'),
        el('p', { class: 'url' }, el('code', { id: 'new-token-value' }, made.token), copyButton(made.token)),
      ),
    );
    form.reset();
    await load();
  } catch (e) {
    clear(message, errorBox(e));
  }
});

async function revoke(token) {
  try {
    await api('DELETE', `/tokens/${encodeURIComponent(token.id)}`);
    clear(message, el('p', { class: 'hint ok' }, `Revoked ${token.name}.`));
    await load();
  } catch (e) {
    clear(message, errorBox(e));
  }
}

async function load() {
  try {
    const tokens = await api('GET', '/tokens');
    if (tokens.length === 0) {
      clear(list, el('p', { class: 'muted card', id: 'no-tokens' }, 'No tokens yet. Give each system its own, with only the scopes it needs.'));
      return;
    }
    clear(
      list,
      el(
        'div',
        { class: 'table-wrap card' },
        el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ['Name', 'Token', 'Scopes', 'Made by', 'Created', 'Expires', 'Last used', ''].map((h) => el('th', { scope: 'col' }, h)))),
          el(
            'tbody',
            {},
            tokens.map((t) =>
              el(
                'tr',
                { dataset: { id: t.id, name: t.name } },
                el('td', { class: 'token-name' }, t.name),
                el('td', {}, el('code', {}, `${t.prefix}…`)),
                el('td', { class: 'token-scopes' }, t.scopes.join(' ')),
                el('td', {}, t.createdBy),
                el('td', {}, timeText(t.createdAt)),
                el('td', {}, t.expiresAt ? timeText(t.expiresAt) : el('span', { class: 'muted' }, 'never')),
                el('td', {}, timeText(t.lastUsedAt)),
                el('td', {}, el('button', { type: 'button', class: 'small danger revoke', onclick: () => revoke(t) }, 'Revoke')),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    clear(list, errorBox(e));
  }
}

const sessions = el('section', { id: 'sessions-list' });

async function endSession(session) {
  try {
    await api('DELETE', `/sessions/${encodeURIComponent(session.id)}`);
    clear(message, el('p', { class: 'hint ok' }, `Signed ${session.email} out.`));
    await loadSessions();
  } catch (e) {
    clear(message, errorBox(e));
  }
}

/** People signed in with SSO; shown only when there are any (SSO may not be configured). */
async function loadSessions() {
  try {
    const live = await api('GET', '/sessions');
    if (live.length === 0) {
      clear(sessions);
      return;
    }
    clear(
      sessions,
      el('h2', {}, 'Signed-in people'),
      el(
        'div',
        { class: 'table-wrap card' },
        el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ['Person', 'Role', 'From', 'Signed in', 'Last request', 'Ends', ''].map((h) => el('th', { scope: 'col' }, h)))),
          el(
            'tbody',
            {},
            live.map((s) =>
              el(
                'tr',
                { dataset: { id: s.id, email: s.email } },
                el('td', { class: 'session-email' }, s.email),
                el('td', {}, s.role),
                el('td', {}, s.source),
                el('td', {}, timeText(s.createdAt)),
                el('td', {}, timeText(s.lastSeenAt)),
                el('td', {}, timeText(s.expiresAt)),
                el('td', {}, el('button', { type: 'button', class: 'small danger end-session', onclick: () => endSession(s) }, 'Sign out')),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    clear(sessions, errorBox(e));
  }
}

main.append(pageHeader('API tokens'), message, list, form, sessions);
await Promise.all([load(), loadSessions()]);
