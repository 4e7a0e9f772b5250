// The audit log: who changed what, when, from where; newest first, filtered, a page at a time.
import { api, clear, el, errorBox, layout, pageHeader, requireToken, segment, timeText } from '/assets/app.js';

requireToken();
const main = layout('audit', 'Audit log');
const params = new URLSearchParams(location.search);

const ACTIONS = [
  'integration.created', 'integration.updated', 'integration.deactivated', 'integration.deleted',
  'secret.set', 'secret.deleted', 'secret.rotated', 'token.created', 'token.revoked',
  'event.retried', 'outbox.retried', 'replay.started', 'reconcile.requested',
  'eval_run.status_changed', 'deployment.status_changed', 'github_app.created', 'sign_in.failed',
];

const actor = el('input', { id: 'filter-actor', name: 'actor', type: 'text', value: params.get('actor') || '', placeholder: 'a token name or an e-mail' });
const action = el(
  'select',
  { id: 'filter-action', name: 'action' },
  el('option', { value: '' }, 'Any action'),
  ACTIONS.map((a) => el('option', { value: a, selected: params.get('action') === a }, a)),
);
const filters = el(
  'form',
  { class: 'card filters', id: 'audit-filters', method: 'get' },
  el('label', { for: 'filter-actor' }, 'Actor'),
  actor,
  el('label', { for: 'filter-action' }, 'Action'),
  action,
  params.get('integrationId') ? el('input', { type: 'hidden', name: 'integrationId', value: params.get('integrationId') }) : null,
  el('button', { type: 'submit' }, 'Filter'),
);

const value = (v) => (v === null || v === undefined ? el('span', { class: 'muted' }, '—') : el('code', {}, typeof v === 'string' ? v : JSON.stringify(v)));
const changes = (entry) => {
  const fields = Object.entries(entry.changes);
  if (fields.length === 0) return el('span', { class: 'muted' }, '—');
  return el('ul', { class: 'changes' }, fields.map(([field, c]) => el('li', {}, el('strong', {}, field), ': ', value(c.before), ' \u2192 ', value(c.after))));
};
const target = (entry) =>
  entry.integrationId && entry.action !== 'integration.deleted'
    ? el('a', { href: `/integrations/${segment(entry.integrationId)}` }, entry.target)
    : el('code', {}, entry.target);

const tbody = el('tbody', { id: 'audit-rows' });
const table = el(
  'div',
  { class: 'table-wrap card' },
  el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Actor', 'Action', 'Target', 'Changes', 'Source', 'Request'].map((h) => el('th', { scope: 'col' }, h)))), tbody),
);
const message = el('div', { id: 'audit-message', 'aria-live': 'polite' });
const more = el('button', { type: 'button', id: 'load-more', hidden: true }, 'Load more');
let cursor = null;

async function load() {
  const query = new URLSearchParams();
  for (const key of ['actor', 'action', 'integrationId']) {
    if (params.get(key)) query.set(key, params.get(key));
  }
  if (cursor) query.set('cursor', cursor);
  try {
    const page = await api('GET', `/audit?${query}`);
    for (const e of page.items) {
      tbody.append(
        el(
          'tr',
          { dataset: { seq: e.seq, action: e.action } },
          el('td', {}, timeText(e.at)),
          el('td', { class: 'actor' }, e.actor),
          el('td', {}, el('code', {}, e.action)),
          el('td', {}, target(e)),
          el('td', {}, changes(e)),
          el('td', {}, e.source),
          el('td', {}, el('code', { title: e.requestId }, e.requestId.slice(0, 8))),
        ),
      );
    }
    if (tbody.children.length === 0) clear(message, el('p', { class: 'muted card', id: 'no-entries' }, 'Nothing has been changed yet.'));
    cursor = page.nextCursor || null;
    more.hidden = !cursor;
  } catch (e) {
    clear(message, errorBox(e));
  }
}

more.addEventListener('click', load);
main.append(pageHeader('Audit log'), filters, message, table, more);
await load();
