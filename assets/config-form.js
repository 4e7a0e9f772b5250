// Form fields for an integration's config, built from the config schemas the API's spec
// documents (`/api/openapi.json`): their types, descriptions, examples and required keys come
// from there, never from a second copy here. The JSON textarea stays the source of truth: a
// field writes only its own key into it, so keys of one's own survive, and typing in the JSON
// fills the fields again.

import { api, copyButton, el } from '/assets/app.js';

const SCHEMA_NAMES = { GITHUB: 'GithubConfig', GITLAB: 'GitlabConfig', SLACK: 'SlackConfig', WEBHOOK: 'WebhookConfig' };

let specAsked;

/** The config schema of each integration type, from the served spec (asked once). */
export function configSchemas() {
  specAsked ||= fetch('/api/openapi.json', { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`the API spec: ${r.status}`))))
    .then((spec) => Object.fromEntries(Object.entries(SCHEMA_NAMES).map(([type, name]) => [type, spec.components.schemas[name]])));
  return specAsked;
}

/** What a field holds: a checkbox, a number, a list, or text (a number where one is allowed). */
function kindOf(property) {
  const types = property.anyOf ? property.anyOf.map((p) => p.type) : [property.type];
  if (types.includes('boolean')) return 'boolean';
  if (types.includes('array')) return 'list';
  if (types.includes('string')) return types.includes('integer') ? 'text-or-number' : 'text';
  if (types.includes('integer') || types.includes('number')) return 'number';
  return null;
}

/** A credential can be kept in Secrets: the schema says it takes a `${secret:NAME}`. */
function takesSecret(property) {
  return (property.description || '').includes('${secret:');
}

function firstParagraph(text) {
  return (text || '').split('\n\n')[0].replace(/\n/g, ' ');
}

function exampleOf(property) {
  const example = property.example ?? property.anyOf?.find((p) => p.example !== undefined)?.example;
  if (example === undefined) return '';
  return Array.isArray(example) ? example.join(', ') : String(example);
}

function fieldValue(kind, value) {
  if (value === undefined || value === null) return '';
  if (kind === 'list') return Array.isArray(value) ? value.join(', ') : String(value);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function readField(kind, input) {
  if (kind === 'boolean') return input.checked ? true : undefined;
  const text = input.value.trim();
  if (text === '') return undefined;
  if (kind === 'number') return /^-?\d+$/.test(text) ? Number(text) : text;
  if (kind === 'text-or-number') return /^\d+$/.test(text) ? Number(text) : text;
  if (kind === 'list') return text.split(',').map((s) => s.trim()).filter(Boolean);
  return input.value;
}

/**
 * The fields of `type`'s config, kept in step with `textarea`. `prefix` keeps ids apart (the
 * field for `repo` is `${prefix}field-repo`); `onChange` is told after a field rewrote the JSON.
 * Returns the element and `showError(field, message)`, which shows a server's 422 at the field
 * it names (`config.repo`) and says whether it could.
 */
export function configFields({ schema, textarea, prefix, onChange }) {
  const fields = [];
  const secretNames = el('datalist', { id: `${prefix}secret-refs` });
  const refreshSecrets = () =>
    api('GET', '/secrets').then(
      (list) => secretNames.replaceChildren(...list.map((s) => el('option', { value: `\${secret:${s.name}}` }))),
      () => {},
    );
  const required = new Set(schema.required || []);
  const parse = () => {
    try {
      const value = JSON.parse(textarea.value);
      return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
    } catch {
      return null;
    }
  };
  const notice = el('p', { class: 'hint bad', id: `${prefix}fields-stale`, hidden: true }, 'The JSON below does not parse: fix it there, and the fields follow.');
  const write = (key, value) => {
    const config = parse();
    if (!config) {
      notice.hidden = false;
      return;
    }
    if (value === undefined) delete config[key];
    else config[key] = value;
    textarea.value = JSON.stringify(config, null, 2);
    onChange?.();
  };

  const rows = Object.entries(schema.properties || {}).flatMap(([key, property]) => {
    const kind = kindOf(property);
    if (!kind) return [];
    const id = `${prefix}field-${key}`;
    const error = el('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
    const hint = el('p', { class: 'hint', id: `${id}-hint` }, firstParagraph(property.description));
    const described = `${id}-hint ${id}-error`;
    const input =
      kind === 'boolean'
        ? el('input', { id, type: 'checkbox', 'aria-describedby': described })
        : el('input', {
            id,
            type: kind === 'number' ? 'number' : 'text',
            placeholder: exampleOf(property),
            spellcheck: 'false',
            autocomplete: 'off',
            list: takesSecret(property) ? secretNames.id : null,
            'aria-describedby': described,
            'aria-required': required.has(key) ? 'true' : null,
          });
    input.addEventListener(kind === 'boolean' ? 'change' : 'input', () => write(key, readField(kind, input)));
    fields.push({ key, kind, input, error });
    const label = el('label', { for: id }, key, required.has(key) ? ' (required)' : '');
    const extra = [
      generates(key) ? generateSecret(prefix, key, input, (value) => write(key, value)) : '',
      takesSecret(property) ? newSecret(prefix, key, input, (name) => {
        refreshSecrets();
        input.value = `\${secret:${name}}`;
        write(key, input.value);
      }) : '',
    ];
    return [el('div', { class: `config-field kind-${kind}`, dataset: { key } }, kind === 'boolean' ? el('label', { class: 'check', for: id }, input, ` ${key}`) : [label, input], extra, hint, error)];
  });

  const fill = () => {
    const config = parse();
    notice.hidden = Boolean(config);
    if (!config) return;
    for (const f of fields) {
      if (f.kind === 'boolean') f.input.checked = config[f.key] === true;
      else if (document.activeElement !== f.input) f.input.value = fieldValue(f.kind, config[f.key]);
    }
  };
  textarea.addEventListener('input', fill);
  refreshSecrets();
  fill();

  const showError = (field, message) => {
    for (const f of fields) {
      f.error.hidden = true;
      f.input.removeAttribute('aria-invalid');
    }
    const key = (field || '').replace(/^config\./, '').split(/[.[]/)[0];
    const target = fields.find((f) => f.key === key);
    if (!target || !(field || '').startsWith('config.')) return false;
    target.error.textContent = message;
    target.error.hidden = false;
    target.input.setAttribute('aria-invalid', 'true');
    target.input.focus();
    return true;
  };
  return { element: el('fieldset', { class: 'config-fields', id: `${prefix}config-fields` }, el('legend', {}, 'Config'), notice, rows, secretNames), fill, showError };
}

/** A secret this server checks and the sender signs with (not one a remote issues, such as
 * Slack's signing secret or a token): it can be made here. */
function generates(key) {
  return /secret/i.test(key) && !/signing/i.test(key);
}

/** 32 random bytes, hex. */
function randomSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** "Generate": a random secret in the field, shown once with Copy to give to the sender. */
function generateSecret(prefix, key, input, done) {
  const id = `${prefix}generate-${key}`;
  const shown = el('div', { class: 'generated', id: `${id}-shown`, role: 'status', hidden: true });
  const button = el('button', {
    type: 'button',
    class: 'small',
    id,
    onclick: () => {
      const value = randomSecret();
      input.value = value;
      done(value);
      shown.replaceChildren(
        el('p', { class: 'ok' }, 'New secret (shown this once; give it to the sender now):'),
        el('p', {}, el('code', { id: `${id}-value` }, value), ' ', copyButton(value)),
      );
      shown.hidden = false;
    },
  }, 'Generate');
  return [button, shown];
}

/** "New secret…": stores a value in Secrets on the spot and puts its reference in the field. */
function newSecret(prefix, key, input, done) {
  const id = `${prefix}secret-${key}`;
  const name = el('input', { id: `${id}-name`, type: 'text', placeholder: 'NAME', 'aria-label': `Name of a new secret for ${key}`, autocomplete: 'off' });
  const value = el('input', { id: `${id}-value`, type: 'password', 'aria-label': `Value of the new secret for ${key}`, autocomplete: 'new-password' });
  const failed = el('p', { class: 'field-error', id: `${id}-failed`, role: 'alert', hidden: true });
  const panel = el(
    'div',
    { class: 'new-secret', id: `${id}-panel`, hidden: true },
    name,
    value,
    el('button', {
      type: 'button',
      id: `${id}-save`,
      onclick: async () => {
        failed.hidden = true;
        try {
          await api('PUT', `/secrets/${encodeURIComponent(name.value.trim())}`, { value: value.value });
          done(name.value.trim());
          value.value = '';
          panel.hidden = true;
        } catch (e) {
          failed.textContent = e.message;
          failed.hidden = false;
        }
      },
    }, 'Store as a secret'),
    failed,
  );
  const open = el('button', {
    type: 'button',
    class: 'small link',
    id: `${id}-new`,
    'aria-controls': panel.id,
    onclick: () => {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) name.focus();
    },
  }, 'New secret…');
  input.setAttribute('title', 'A value, or ${secret:NAME} for one kept in Secrets');
  return [open, panel];
}
