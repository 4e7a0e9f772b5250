import { ApiError, api, el, layout, pageHeader, requireToken } from '/assets/app.js';

requireToken();
const main = layout('integrations', 'New Integration');

// The documentation's examples; the token values are placeholders to replace (better: with a
// ${secret:NAME} reference).
const EXAMPLES = {
  GITHUB: { repo: 'my-org/my-agent-repo', branch: 'main', token: 'ghp_xxxx' },
  GITLAB: { project_id: '12345', branch: 'main', token: 'glpat-xxxx' },
  SLACK: { webhook_url: 'https://hooks.slack.com/services/T.../B.../xxx', channel: '#agent-alerts', username: 'Provenant Bot' },
  WEBHOOK: { description: 'Production monitoring webhook', events: ['drift.critical', 'violation.high'] },
};

function fieldError(id) {
  return el('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
}

const type = el(
  'select',
  { id: 'type', name: 'type', 'aria-describedby': 'type-error' },
  Object.keys(EXAMPLES).map((t) => el('option', { value: t }, t)),
);
const name = el('input', { id: 'name', name: 'name', type: 'text', maxlength: 200, placeholder: 'Main GitHub Repo', 'aria-describedby': 'name-error' });
const config = el('textarea', { id: 'config', name: 'config', rows: 10, spellcheck: 'false', 'aria-describedby': 'config-status config-error' });
const configStatus = el('p', { class: 'hint', id: 'config-status', 'aria-live': 'polite' });
const errors = { type: fieldError('type'), name: fieldError('name'), config: fieldError('config') };
const formError = el('p', { class: 'error', role: 'alert', id: 'form-error', hidden: true });
const create = el('button', { type: 'submit', class: 'primary', id: 'create', dataset: { needs: 'write' } }, 'Create');
let edited = false;

function loadExample() {
  config.value = JSON.stringify(EXAMPLES[type.value], null, 2);
  edited = false;
  checkJson();
}

function checkJson() {
  try {
    const value = JSON.parse(config.value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('Config must be a JSON object.');
    configStatus.textContent = 'Valid JSON.';
    configStatus.className = 'hint ok';
    create.disabled = false;
    return value;
  } catch (error) {
    configStatus.textContent = error instanceof SyntaxError ? `Not valid JSON yet: ${error.message}` : error.message;
    configStatus.className = 'hint bad';
    create.disabled = true;
    return null;
  }
}

type.addEventListener('change', () => {
  if (!edited || confirm('Replace the config with the example for this type?')) loadExample();
});
config.addEventListener('input', () => {
  edited = true;
  checkJson();
});

function showError(error) {
  for (const box of Object.values(errors)) box.hidden = true;
  formError.hidden = true;
  const field = error instanceof ApiError ? error.field || '' : '';
  const key = field.startsWith('config') ? 'config' : field;
  if (errors[key]) {
    // The server's message already names the field ("config.repo: must be …").
    errors[key].textContent = error.message;
    errors[key].hidden = false;
    document.getElementById(key).setAttribute('aria-invalid', 'true');
    document.getElementById(key).focus();
  } else {
    formError.textContent = error.message;
    formError.hidden = false;
  }
}

const form = el(
  'form',
  { class: 'card form', id: 'new-integration-form', novalidate: true },
  el('label', { for: 'type' }, 'Type'),
  type,
  errors.type,
  el('label', { for: 'name' }, 'Name'),
  name,
  errors.name,
  el('label', { for: 'config' }, 'Config (JSON)'),
  config,
  configStatus,
  errors.config,
  el('p', { class: 'hint' }, 'Keep tokens in Secrets and refer to them as ${secret:NAME}. Values of keys containing "secret" or "token" are always shown as ***.'),
  formError,
  el('div', { class: 'actions' }, create, el('a', { href: '/', class: 'button' }, 'Cancel')),
);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const parsed = checkJson();
  if (!parsed) return;
  create.disabled = true;
  try {
    const created = await api('POST', '/integrations', { type: type.value, name: name.value, config: parsed });
    location.assign(`/integrations/${created.id}?created=1`);
  } catch (error) {
    showError(error);
    create.disabled = false;
  }
});

const preset = new URLSearchParams(location.search).get('type');
if (preset && EXAMPLES[preset]) type.value = preset;
loadExample();
main.append(pageHeader('New Integration'), form);
name.focus();
