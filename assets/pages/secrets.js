import { api, clear, el, errorBox, layout, pageHeader, requireToken, timeText } from '/assets/app.js';

requireToken();
const main = layout('secrets', 'Secrets');
const list = el('section', { id: 'secrets-list' });
const message = el('div', { id: 'secrets-message', 'aria-live': 'polite' });

const name = el('input', { id: 'secret-name', type: 'text', pattern: '[A-Z0-9_]{1,64}', placeholder: 'GITHUB_TOKEN', required: true, 'aria-describedby': 'secret-name-hint' });
const value = el('input', { id: 'secret-value', type: 'password', autocomplete: 'new-password', required: true });
const form = el(
  'form',
  { class: 'card form', id: 'secret-form', dataset: { needs: 'admin' } },
  el('h2', {}, 'Add or replace a secret'),
  el('label', { for: 'secret-name' }, 'Name'),
  name,
  el('p', { class: 'hint', id: 'secret-name-hint' }, 'Upper-case letters, digits and _. Refer to it in a config as ${secret:NAME}.'),
  el('label', { for: 'secret-value' }, 'Value'),
  value,
  el('p', { class: 'hint' }, 'The value is encrypted and never shown again.'),
  el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', id: 'save-secret' }, 'Save secret')),
);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await api('PUT', `/secrets/${encodeURIComponent(name.value.trim())}`, { value: value.value });
    clear(message, el('p', { class: 'hint ok' }, `Saved ${name.value.trim()}.`));
    form.reset();
    await load();
  } catch (e) {
    clear(message, errorBox(e));
  }
});

async function remove(secretName) {
  try {
    await api('DELETE', `/secrets/${encodeURIComponent(secretName)}`);
    clear(message, el('p', { class: 'hint ok' }, `Deleted ${secretName}.`));
    await load();
  } catch (e) {
    const text = e.status === 409 ? `${secretName} is still in use: ${e.message}` : e;
    clear(message, errorBox(text));
  }
}

async function load() {
  try {
    const secrets = await api('GET', '/secrets');
    if (secrets.length === 0) {
      clear(list, el('p', { class: 'muted card', id: 'no-secrets' }, 'No secrets yet. Store tokens here rather than in integration configs.'));
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
          el('thead', {}, el('tr', {}, ['Name', 'Reference', 'Used by', 'Created', 'Updated', ''].map((h) => el('th', { scope: 'col' }, h)))),
          el(
            'tbody',
            {},
            secrets.map((s) =>
              el(
                'tr',
                { dataset: { name: s.name } },
                el('td', {}, el('code', {}, s.name)),
                el('td', {}, el('code', {}, s.reference)),
                el('td', {}, s.usedBy.length ? s.usedBy.map((u, i) => [i ? ', ' : '', el('a', { href: `/integrations/${u.id}` }, u.name)]) : el('span', { class: 'muted' }, 'nothing')),
                el('td', {}, timeText(s.createdAt)),
                el('td', {}, timeText(s.updatedAt)),
                el('td', {}, el('button', { type: 'button', class: 'small danger', dataset: { needs: 'admin' }, onclick: () => remove(s.name) }, 'Delete')),
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

main.append(pageHeader('Secrets'), message, list, form);
await load();
