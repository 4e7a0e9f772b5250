import { el, setToken } from '/assets/app.js';

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
  el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
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
