import { el, setToken, useSso } from '/assets/app.js';

const params = new URLSearchParams(location.search);

/** Where to go after signing in: a path on this origin only. Browsers read `\` as `/` and drop
 * tabs and newlines, so `/\evil`, `/<tab>/evil` and the like would leave the site: anything but a
 * plain same-origin path goes to `/`. */
function sameOriginPath(requested) {
  if (!requested || !requested.startsWith('/') || requested.startsWith('//')) return '/';
  if (/[\\\u0000-\u001f\u007f]/.test(requested)) return '/';
  try {
    const url = new URL(requested, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}

const next = sameOriginPath(params.get('next'));

// Back from the identity provider with a session cookie: this tab uses it from now on.
if (params.get('sso') === '1') {
  useSso();
  location.replace(next);
}

const error = el('p', { class: 'error', role: 'alert', id: 'signin-error', hidden: true });
const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-hint' });
const form = el(
  'form',
  { class: 'card signin', id: 'signin-form' },
  el('h1', {}, el('img', { src: '/assets/icons/logo.svg', alt: '', width: 28, height: 28 }), 'Provenant Integrations'),
  params.get('reason') === 'expired' ? el('p', { class: 'notice' }, 'Your token was not accepted. Sign in again.') : null,
  el('label', { for: 'token' }, 'API token'),
  input,
  el(
    'p',
    { class: 'hint', id: 'token-hint' },
    'The server printed it at its first start; it is also saved in ',
    el('code', {}, 'provenant-data/api-token'),
    ' (or set with PROVENANT_API_TOKEN).',
  ),
  error,
  el('button', { type: 'submit', class: 'primary' }, 'Use an API token'),
);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const candidate = input.value.trim();
  const response = await fetch('/api/me', { headers: { Authorization: `Bearer ${candidate}` } });
  if (response.ok) {
    setToken(candidate);
    location.replace(next);
  } else {
    error.textContent = response.status === 401 ? 'That token was not accepted.' : response.status === 429 ? 'Too many wrong tokens from this address: wait a minute and try again.' : `The server answered ${response.status}.`;
    error.hidden = false;
    input.focus();
  }
});

document.title = 'Sign in · Provenant';
document.body.replaceChildren(el('main', { class: 'center' }, form));
input.focus();

// "Sign in with SSO" when the server has it; a browser already signed in (another tab) goes on.
const sso = await fetch('/auth/sso').then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
if (sso.enabled && params.get('sso') !== '1') {
  const me = await fetch('/api/me', { credentials: 'same-origin' }).catch(() => null);
  if (me?.ok && params.get('reason') !== 'expired') {
    useSso();
    location.replace(next);
  } else {
    const start = el('a', { class: 'button primary', id: 'sso-sign-in', href: `/auth/sso/start?next=${encodeURIComponent(next)}` }, 'Sign in with SSO');
    form.querySelector('h1').after(start, el('p', { class: 'hint' }, 'Or use an API token:'));
  }
}
