// "Create a GitHub App": builds the manifest (through the API), posts it to GitHub's page in a
// form, and takes GitHub's redirect back (`?code=…&state=…`), exchanging the code for the App
// through the API. The code is wiped from the address bar at once: it is good once, for an hour.
import { api, authHeaders, clear, el, errorBox, layout, pageHeader, requireToken, segment } from '/assets/app.js';

requireToken();
// /integrations/{id}/github-app
const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const idPath = segment(id);
const params = new URLSearchParams(location.search);
const main = layout('integrations', 'Create a GitHub App');
const back = el('a', { href: `/integrations/${idPath}` }, 'Back to the integration');

async function finish(code, state) {
  history.replaceState(null, '', location.pathname);
  const status = el('p', { class: 'muted', id: 'converting' }, 'Creating the App on GitHub…');
  clear(main, pageHeader('Create a GitHub App'), status);
  try {
    const created = await api('POST', `/integrations/${idPath}/github-app/conversion`, { code, state });
    clear(
      main,
      pageHeader('GitHub App created'),
      el(
        'div',
        { class: 'card', id: 'created' },
        el('p', {}, 'GitHub App ', el('strong', { id: 'app-name' }, created.name || created.slug), ' (id ', el('code', { id: 'app-id' }, String(created.appId)), ') now runs this integration.'),
        el('p', {}, 'Its private key and secrets were stored as Secrets: ', created.secrets.map((s, n) => [n ? ', ' : '', el('code', {}, s)])),
        el('p', {}, el('a', { class: 'button primary', id: 'install-link', href: created.installUrl }, 'Install on your organisation'),
          ' and choose the repositories it may see.'),
        el('p', {}, back),
      ),
    );
  } catch (e) {
    clear(main, pageHeader('Create a GitHub App'), el('div', { id: 'conversion-error' }, errorBox(e)), el('p', {}, el('a', { href: location.pathname }, 'Start again'), ' · ', back));
  }
}

/** This page may post to the integration's web_url only once an admin's grant is in its cookie
 * (the server names that origin in the page's policy only then): asked for, then the page is
 * loaded again, once. */
async function grant() {
  const response = await fetch(`${location.pathname}/grant`, { method: 'POST', headers: await authHeaders('POST'), credentials: 'same-origin' });
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {}
    clear(main, pageHeader('Create a GitHub App'), errorBox(detail), el('p', {}, back));
    return false;
  }
  location.replace(`${location.pathname}?granted=1`);
  return false;
}

async function start() {
  if (!params.has('granted')) {
    await grant();
    return;
  }
  let integration;
  try {
    integration = await api('GET', `/integrations/${idPath}`);
  } catch (e) {
    clear(main, pageHeader('Create a GitHub App'), errorBox(e.status === 404 ? 'This integration does not exist (any more).' : e));
    return;
  }
  const organization = el('input', { id: 'organization', type: 'text', maxlength: 39, placeholder: 'my-org', autocomplete: 'off' });
  const name = el('input', { id: 'app-name-input', type: 'text', maxlength: 34, value: `Provenant ${integration.name}`.slice(0, 34) });
  const error = el('div', { id: 'manifest-error', 'aria-live': 'polite' });
  // Where the form will go, said before it goes: the integration's web_url (an admin's to set).
  let origin;
  try {
    origin = new URL(integration.config.web_url || 'https://github.com').origin;
  } catch {
    clear(main, pageHeader('Create a GitHub App'), errorBox('This integration\u2019s web_url is not an address.'));
    return;
  }
  const form = el(
    'form',
    { class: 'form card', id: 'start-form' },
    el('p', {}, 'GitHub creates an App whose one webhook is this integration\u2019s URL, with the events (pull requests, pushes, check runs and suites) and permissions (checks, statuses, deployments: write; contents, metadata, pull requests: read) it needs. You name it and confirm on GitHub, then install it.'),
    el('p', { id: 'post-origin' }, 'The manifest is posted to ', el('strong', { id: 'post-origin-value' }, origin), ' (this integration\u2019s web_url). Continue only if that is your GitHub.'),
    el('label', { for: 'organization' }, 'Organisation (empty: your own account)'),
    organization,
    el('label', { for: 'app-name-input' }, 'App name'),
    name,
    error,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', id: 'create-app', dataset: { needs: 'admin' } }, 'Create on GitHub')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(error);
    const body = {};
    if (organization.value.trim()) body.organization = organization.value.trim();
    if (name.value.trim()) body.name = name.value.trim();
    let made;
    try {
      made = await api('POST', `/integrations/${idPath}/github-app/manifest`, body);
    } catch (e) {
      clear(error, errorBox(e));
      return;
    }
    // Only to the origin shown above: anything else is not posted.
    if (new URL(made.postUrl).origin !== origin) {
      clear(error, errorBox(`The manifest would go to ${new URL(made.postUrl).origin}, not ${origin}: not posted.`));
      return;
    }
    // A real form post: GitHub's page takes the manifest only that way.
    const post = el('form', { method: 'post', action: made.postUrl, id: 'manifest-form', hidden: true }, el('input', { type: 'hidden', name: 'manifest', value: made.manifest }));
    document.body.append(post);
    post.submit();
  });
  clear(main, pageHeader('Create a GitHub App'), form, el('p', {}, back));
}

if (params.has('code') && params.has('state')) {
  await finish(params.get('code'), params.get('state'));
} else {
  await start();
}
