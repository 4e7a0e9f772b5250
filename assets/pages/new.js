import { ApiError, api, el, errorBox, layout, pageHeader, requireToken } from '/assets/app.js';
import { configFields, configSchemas } from '/assets/config-form.js';

requireToken();
const main = layout('integrations', 'New Integration');

// Each type's fields come from the spec's config schemas. Their examples are placeholders
// only: the config starts empty, so no example value is ever saved as a real one.
let schemas;
try {
  schemas = await configSchemas();
} catch (e) {
  main.append(pageHeader('New Integration'), errorBox(e));
  throw e;
}
const TYPES = Object.keys(schemas);

function fieldError(id) {
  return el('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
}

const type = el(
  'select',
  { id: 'type', name: 'type', 'aria-describedby': 'type-error' },
  TYPES.map((t) => el('option', { value: t }, t)),
);
const name = el('input', { id: 'name', name: 'name', type: 'text', maxlength: 200, placeholder: 'Main GitHub Repo', 'aria-describedby': 'name-error' });
const config = el('textarea', { id: 'config', name: 'config', rows: 10, spellcheck: 'false', 'aria-describedby': 'config-status config-error' });
const configStatus = el('p', { class: 'hint', id: 'config-status', 'aria-live': 'polite' });
const errors = { type: fieldError('type'), name: fieldError('name'), config: fieldError('config') };
const fieldsSlot = el('div', { id: 'config-fields-slot' });
let fields;

function buildFields() {
  fields = configFields({ schema: schemas[type.value], textarea: config, prefix: '', onChange: () => { edited = true; checkJson(); } });
  fieldsSlot.replaceChildren(fields.element);
}
const formError = el('p', { class: 'error', role: 'alert', id: 'form-error', hidden: true });
const create = el('button', { type: 'submit', class: 'primary', id: 'create', dataset: { needs: 'write' } }, 'Create');
let edited = false;

function startEmpty() {
  config.value = '{}';
  edited = false;
  buildFields();
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
  if (!edited || confirm('Start the config afresh for this type?')) startEmpty();
  else buildFields();
});
config.addEventListener('input', () => {
  edited = true;
  checkJson();
});

function showError(error) {
  for (const box of Object.values(errors)) box.hidden = true;
  formError.hidden = true;
  const field = error instanceof ApiError ? error.field || '' : '';
  // A config key's error is shown at its field when the form has one.
  if (fields?.showError(field, error.message)) return;
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
  fieldsSlot,
  el('label', { for: 'config' }, 'Config (JSON): the fields above write it, and keys of your own stay'),
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
if (preset && TYPES.includes(preset)) type.value = preset;
startEmpty();
main.append(pageHeader('New Integration'), form);
name.focus();
