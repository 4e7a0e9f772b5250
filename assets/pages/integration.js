import { api, clear, copyButton, el, errorBox, layout, pageHeader, pretty, requireToken, segment, statusBadge, timeText, typeMark } from '/assets/app.js';
import { bucketLabel, latencyText, stackedBars } from '/assets/chart.js';
import { configFields, configSchemas } from '/assets/config-form.js';

requireToken();
const id = decodeURIComponent(location.pathname.split('/').pop());
// Ids from the address bar go into API paths encoded: a crafted link cannot point the page (and
// its token) at another API path.
const idPath = segment(id);
const params = new URLSearchParams(location.search);
const main = layout('integrations', 'Integration');
const POLL_MS = 2000;
// The roll-ups change by the hour; a chart a few seconds behind the table is fine.
const STATS_POLL_MS = 15000;

let integration = null;
const summary = el('section', { id: 'summary' }, el('p', { class: 'muted' }, 'Loading…'));
const setup = el('section', { id: 'setup' });
const installationsSection = el('section', { id: 'installations', hidden: true });
const editor = el('section', { id: 'edit' });
const testResult = el('div', { id: 'test-result', 'aria-live': 'polite' });
const eventsSection = el('section', { id: 'recent-events', class: 'card', role: 'tabpanel', 'aria-labelledby': 'tab-events' });
const rejectionsSection = el('section', { id: 'rejections', class: 'card', role: 'tabpanel', 'aria-labelledby': 'tab-rejections', hidden: true });
const tabs = el('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Deliveries' });
const statsSection = el('section', { id: 'stats', class: 'card' });
main.append(summary, statsSection, setup, installationsSection, tabs, eventsSection, rejectionsSection, editor);

// ---- Summary, actions and setup steps -------------------------------------------------------

function fact(label, ...value) {
  return [el('dt', {}, label), el('dd', {}, ...value)];
}

function renderSummary() {
  const i = integration;
  document.title = `${i.name} · Provenant`;
  const toggle = el(
    'button',
    { type: 'button', id: 'toggle-active', onclick: () => setActive(!i.isActive) },
    i.isActive ? 'Deactivate' : 'Activate',
  );
  const test = el('button', { type: 'button', id: 'send-test', onclick: sendTest, dataset: { needs: 'write' } }, 'Send test');
  const rotate = el('button', { type: 'button', id: 'rotate-secret', onclick: confirmRotate, dataset: { needs: 'admin' } }, 'Rotate secret');
  const remove = el('button', { type: 'button', class: 'danger', id: 'delete', onclick: confirmDelete, dataset: { needs: 'write' } }, 'Delete');
  clear(
    summary,
    pageHeader(i.name, test, rotate, toggle, remove),
    el(
      'div',
      { class: 'card' },
      el('p', {}, typeMark(i.type), ' ', statusBadge(i.isActive ? 'ACTIVE' : 'INACTIVE'), ' ',
        el('span', { class: `badge ${i.verified ? 'verified' : 'unverified'}` }, i.verified ? 'Verified' : 'Unverified')),
      i.isActive
        ? null
        : el('p', { class: 'notice', id: 'inactive-note' }, 'This integration is inactive: its webhook URL answers 404 until it is activated again.'),
      i.warnings.length
        ? el('ul', { class: 'warnings', id: 'secret-warnings' }, i.warnings.map((w) => el('li', { class: i.unverifiedActs && w.startsWith('No secret') ? 'notice danger' : 'notice' }, w)))
        : null,
      el(
        'dl',
        { class: 'facts' },
        fact('Webhook URL', el('code', { class: 'webhook-url' }, i.webhookUrl), ' ', copyButton(i.webhookUrl)),
        fact('Id', el('code', {}, i.id)),
        fact('Events', el('span', { id: 'event-count' }, String(i.eventCount))),
        fact('Rejected deliveries', el('span', { id: 'rejected-count' }, String(i.rejectedDeliveries.count)),
          i.rejectedDeliveries.lastReason ? el('span', { class: 'muted' }, ' — last: ', i.rejectedDeliveries.lastReason, ' (', timeText(i.rejectedDeliveries.lastAt), ')') : null),
        i.secretRotation
          ? fact('Previous secret', el('span', { id: 'previous-secret' },
            'accepted until ', timeText(i.secretRotation.previousValidUntil), ' · ',
            i.secretRotation.previousLastUsedAt
              ? ['old secret last used ', timeText(i.secretRotation.previousLastUsedAt)]
              : 'not used since the rotation: the sender has switched, or sent nothing yet'))
          : null,
        i.type === 'GITHUB'
          ? fact('Missed deliveries recovered', el('span', { id: 'reconcile-summary' }, '…'), ' ',
            el('button', { type: 'button', class: 'small', id: 'reconcile-now', onclick: reconcileNow, dataset: { needs: 'write' } }, 'Check GitHub\u2019s delivery log now'))
          : null,
        fact('Created', timeText(i.createdAt)),
        fact('Updated', timeText(i.updatedAt)),
      ),
      testResult,
    ),
  );
  refreshReconcile();
}

/** "N (last check …)" from the reconcile log of a GITHUB integration. */
async function refreshReconcile() {
  const target = document.getElementById('reconcile-summary');
  if (!target) return;
  try {
    const log = await api('GET', `/integrations/${idPath}/reconcile`);
    const last = log.checks[0];
    clear(
      target,
      String(log.recovered),
      ' (last check ',
      log.lastCheckAt ? timeText(log.lastCheckAt) : 'never',
      last && last.error ? el('span', { class: 'error-text' }, `: ${last.error}`) : null,
      ')',
    );
  } catch (e) {
    clear(target, errorBox(e));
  }
}

async function reconcileNow() {
  const target = document.getElementById('reconcile-summary');
  clear(target, 'checking…');
  try {
    const report = await api('POST', `/integrations/${idPath}/reconcile`);
    await refreshReconcile();
    target.append(` — ${report.missing.length} missing, ${report.requested} asked for again now`);
  } catch (e) {
    clear(target, errorBox(e));
  }
}

function steps(i) {
  const url = el('code', {}, i.webhookUrl);
  switch (i.type) {
    case 'GITHUB':
      if (i.config.app_id) {
        return [
          el('li', {}, 'Runs as GitHub App ', el('code', {}, String(i.config.app_id)), ': its one webhook points at ', url, '.'),
          el('li', {}, 'Install the App on each organisation whose repositories it should see; its installations show below.'),
        ];
      }
      return [
        el('li', {}, 'In GitHub: repository Settings → Webhooks → Add webhook.'),
        el('li', {}, 'Payload URL: ', url),
        el('li', {}, 'Content type: ', el('code', {}, 'application/json')),
        el('li', {}, 'Secret: the value of this integration\u2019s ', el('code', {}, 'webhook_secret'), ' (add one to the config to have deliveries verified).'),
        el('li', {}, 'Events: "Let me select individual events" → Push and Pull requests.'),
      ];
    case 'GITLAB':
      return [
        el('li', {}, 'In GitLab: project Settings → Webhooks → Add new webhook.'),
        el('li', {}, 'URL: ', url),
        el('li', {}, 'Secret token: the value of this integration\u2019s ', el('code', {}, 'webhook_secret'), '.'),
        el('li', {}, 'Trigger: Push events and Merge request events.'),
      ];
    case 'SLACK':
      return [el('li', {}, 'Provenant posts to the config\u2019s webhook_url. Use "Send test" to check it.')];
    default:
      return [
        el('li', {}, 'Send deliveries as POST requests to: ', url),
        el('li', {}, 'Name the event in an X-Event-Type header or a top-level "type" or "event" field.'),
        el('li', {}, 'With a secret in the config, sign with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) or X-Hub-Signature-256.'),
      ];
  }
}

function renderSetup() {
  clear(
    setup,
    el(
      'details',
      { class: 'card', open: params.has('created') },
      el('summary', {}, params.has('created') ? 'Created. Next steps' : 'Setup steps'),
      el('ol', { id: 'setup-steps' }, steps(integration)),
    ),
  );
}

// ---- Editing ---------------------------------------------------------------------------------

function renderEditor() {
  const name = el('input', { id: 'edit-name', type: 'text', value: integration.name, maxlength: 200, 'aria-describedby': 'edit-error' });
  const config = el('textarea', { id: 'edit-config', rows: 8, spellcheck: 'false', 'aria-describedby': 'edit-error' });
  config.value = JSON.stringify(integration.config, null, 2);
  const error = el('p', { class: 'field-error', id: 'edit-error', role: 'alert', hidden: true });
  const saved = el('p', { class: 'hint ok', id: 'edit-saved', hidden: true }, 'Saved.');
  const preview = el('button', { type: 'button', id: 'preview', dataset: { needs: 'write' } }, 'Preview against recent deliveries');
  const previewResults = el('div', { id: 'preview-results', 'aria-live': 'polite' });
  // The type's fields, from the spec's config schema; the JSON stays what is saved.
  const fieldsSlot = el('div', { id: 'edit-config-fields-slot' });
  let fields;
  // Built when the editor is first opened: the spec and the secrets' names are asked for then.
  const buildFields = () => {
    if (fieldsSlot.childElementCount) return;
    fieldsSlot.append(el('p', { class: 'muted' }, 'Loading the fields…'));
    configSchemas().then(
      (schemas) => {
        fields = configFields({ schema: schemas[integration.type], textarea: config, prefix: 'edit-' });
        fieldsSlot.replaceChildren(fields.element);
      },
      () => fieldsSlot.replaceChildren(),
    );
  };
  const form = el(
    'form',
    { class: 'form', id: 'edit-form' },
    el('label', { for: 'edit-name' }, 'Name'),
    name,
    fieldsSlot,
    el('label', { for: 'edit-config' }, 'Config (JSON): the fields above write it, and keys of your own stay'),
    config,
    el('p', { class: 'hint' }, 'Values shown as *** are kept as they are when you save.'),
    error,
    saved,
    el('div', { class: 'actions' }, preview, el('button', { type: 'submit', class: 'primary', id: 'save', dataset: { needs: 'write' } }, 'Save')),
    previewResults,
  );
  /** The config as typed, or undefined (with the error shown) when it is not JSON. */
  const readConfig = () => {
    error.hidden = true;
    try {
      return JSON.parse(config.value);
    } catch (e) {
      error.textContent = `config: not valid JSON: ${e.message}`;
      error.hidden = false;
      return undefined;
    }
  };
  preview.addEventListener('click', async () => {
    const parsed = readConfig();
    if (parsed === undefined) return;
    clear(previewResults, el('p', { class: 'muted' }, 'Evaluating…'));
    try {
      const { results } = await api('POST', `/integrations/${idPath}/dry-run`, { config: parsed, limit: 20 });
      clear(
        previewResults,
        el('h3', {}, 'With this config (nothing was saved, stored or sent):'),
        results.length === 0
          ? el('p', { class: 'muted' }, 'No stored deliveries to evaluate yet.')
          : el('ol', { class: 'preview' }, results.map((r) => el(
            'li',
            { class: 'preview-result' },
            el('strong', {}, r.eventType), ' ', timeText(r.receivedAt), ' → ',
            el('span', { class: r.error ? 'error-text' : '' }, r.error || r.outcome),
            el('ol', { class: 'trace' }, r.trace.map((t) => el('li', {}, t))),
          ))),
      );
    } catch (e) {
      clear(previewResults);
      error.textContent = e.message;
      error.hidden = false;
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    saved.hidden = true;
    const parsed = readConfig();
    if (parsed === undefined) return;
    try {
      integration = await api('PATCH', `/integrations/${idPath}`, { type: integration.type, name: name.value, config: parsed });
      renderSummary();
      saved.hidden = false;
    } catch (e) {
      if (fields?.showError(e.field, e.message)) return;
      error.textContent = e.message;
      error.hidden = false;
    }
  });
  const details = el('details', { class: 'card', id: 'edit-details' }, el('summary', {}, 'Edit name and config'), form);
  details.addEventListener('toggle', () => details.open && buildFields());
  clear(editor, details);
}

async function setActive(active) {
  try {
    integration = await api('PATCH', `/integrations/${idPath}`, { type: integration.type, isActive: active });
    renderSummary();
  } catch (e) {
    summary.append(errorBox(e));
  }
}

async function sendTest() {
  clear(testResult, el('p', { class: 'muted' }, 'Testing…'));
  try {
    const result = await api('POST', `/integrations/${idPath}/test`);
    clear(
      testResult,
      el('h3', {}, result.ok ? 'Test passed' : 'Test found problems'),
      el('ul', { class: 'checks' }, result.checks.map((c) => el('li', { class: c.ok ? 'ok' : 'bad' }, `${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`))),
    );
  } catch (e) {
    clear(testResult, errorBox(e));
  }
}

function confirmRotate() {
  const overlap = el('input', { id: 'rotate-overlap', type: 'number', min: 0, max: 720, value: 24, 'aria-describedby': 'rotate-hint' });
  const given = el('input', { id: 'rotate-given', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: integration.type === 'SLACK' ? 'the new signing secret from Slack' : 'leave empty to generate one' });
  const result = el('div', { id: 'rotate-result', 'aria-live': 'polite' });
  const dialog = el(
    'dialog',
    { id: 'rotate-dialog', 'aria-labelledby': 'rotate-title' },
    el('h2', { id: 'rotate-title' }, 'Rotate the webhook secret'),
    el('p', { id: 'rotate-hint', class: 'hint' }, 'The previous secret keeps working for the overlap, so the sender can switch without a refused delivery.'),
    el('label', { for: 'rotate-overlap' }, 'Overlap (hours)'),
    overlap,
    el('label', { for: 'rotate-given' }, 'New secret (optional)'),
    given,
    result,
  );
  const close = el('button', { type: 'button', id: 'rotate-close', onclick: () => dialog.close() }, 'Close');
  const go = el('button', { type: 'button', class: 'primary', id: 'rotate-confirm' }, 'Rotate');
  go.addEventListener('click', async () => {
    const body = { overlapSeconds: Math.round(Number(overlap.value || 0) * 3600) };
    if (given.value) body.secret = given.value;
    try {
      const rotated = await api('POST', `/integrations/${idPath}/rotate-secret`, body);
      go.remove();
      clear(
        result,
        el('p', { class: 'ok' }, 'New secret (shown this once; give it to the sender now):'),
        el('p', {}, el('code', { id: 'new-secret' }, rotated.secret), ' ', copyButton(rotated.secret)),
        rotated.previousValidUntil ? el('p', { class: 'hint' }, 'The previous secret is accepted until ', timeText(rotated.previousValidUntil), '.') : null,
      );
      integration = await api('GET', `/integrations/${idPath}`);
      renderSummary();
    } catch (e) {
      clear(result, errorBox(e));
    }
  });
  dialog.append(el('div', { class: 'actions' }, close, go));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  overlap.focus();
}

function confirmDelete() {
  const dialog = el(
    'dialog',
    { id: 'confirm-delete', 'aria-labelledby': 'confirm-title' },
    el('h2', { id: 'confirm-title' }, `Delete integration \u201c${integration.name}\u201d?`),
    el('p', {}, 'Its webhook URL stops working and its stored events are deleted. This cannot be undone.'),
  );
  const cancel = el('button', { type: 'button', id: 'cancel-delete', onclick: () => dialog.close() }, 'Cancel');
  const confirmButton = el('button', { type: 'button', class: 'danger', id: 'confirm-delete-button' }, 'Delete');
  confirmButton.addEventListener('click', async () => {
    try {
      await api('DELETE', `/integrations/${idPath}`);
      location.assign('/');
    } catch (e) {
      dialog.append(errorBox(e));
    }
  });
  dialog.append(el('div', { class: 'actions' }, cancel, confirmButton));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  cancel.focus();
}

// ---- Deliveries over time --------------------------------------------------------------------

const SERIES = [
  { key: 'processed', label: 'processed', className: 'processed' },
  { key: 'failed', label: 'failed', className: 'failed' },
  { key: 'rejected', label: 'rejected', className: 'rejected' },
  { key: 'duplicates', label: 'duplicates', one: 'duplicate', className: 'duplicate' },
];
const RANGES = { hour: 'Last 24 hours', day: 'Last 30 days' };
let statsBucket = 'hour';
const statsBody = el('div', { id: 'stats-body' }, el('p', { class: 'muted' }, 'Loading…'));
const rangeButtons = Object.entries(RANGES).map(([bucket, label]) => {
  const button = el('button', { type: 'button', class: 'small', dataset: { bucket }, 'aria-pressed': String(bucket === statsBucket) }, label);
  button.addEventListener('click', () => {
    statsBucket = bucket;
    for (const b of rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.bucket === bucket));
    refreshStats();
  });
  return button;
});
statsSection.append(el('header', { class: 'section-header' }, el('h2', {}, 'Deliveries over time'), el('div', { class: 'actions', role: 'group', 'aria-label': 'Range' }, rangeButtons)), statsBody);

async function refreshStats() {
  let stats;
  try {
    stats = await api('GET', `/integrations/${idPath}/stats?bucket=${statsBucket}`);
  } catch (e) {
    clear(statsBody, errorBox(e));
    return;
  }
  const t = stats.totals;
  const ended = t.processed + t.failed;
  const figure = (label, value, idName) => [el('dt', {}, label), el('dd', { id: idName }, value)];
  clear(
    statsBody,
    el('dl', { class: 'facts stats-totals' },
      figure('Received', String(t.received), 'stats-received'),
      figure('Processed', String(t.processed), 'stats-processed'),
      figure('Failed', `${t.failed}${ended ? ` (${Math.round((100 * t.failed) / ended)} %)` : ''}`, 'stats-failed'),
      figure('Rejected', String(t.rejected), 'stats-rejected'),
      figure('Duplicates', String(t.duplicates), 'stats-duplicates'),
      figure('Processing p50 / p95', `${latencyText(t.p50Ms)} / ${latencyText(t.p95Ms)}`, 'stats-latency')),
    stackedBars({
      id: 'deliveries-chart',
      title: `Deliveries per ${statsBucket}, ${RANGES[statsBucket].toLowerCase()}, by outcome`,
      buckets: stats.buckets,
      bucket: statsBucket,
      series: SERIES,
      clickable: ['failed'],
      onSegment: (b) => filterToBucket(b, stats.bucket),
    }),
    el('p', { class: 'hint' }, 'Processed and failed count when processing ended; a click on a failed segment lists those events below.'),
  );
}

/** Recent Events narrowed to one bar: FAILED events whose processing ended in its hour or day. */
let endedIn = null;
const endedFilter = el('span', { id: 'ended-filter', class: 'filter-chip', hidden: true });
function filterToBucket(b, bucket) {
  const from = new Date(b.start);
  const before = new Date(from.getTime() + (bucket === 'day' ? 24 : 1) * 3_600_000);
  endedIn = { from: from.toISOString(), before: before.toISOString() };
  statusFilter.value = 'FAILED';
  clear(endedFilter, `Failed in ${bucketLabel(b.start, bucket)} `,
    el('button', { type: 'button', class: 'small link', id: 'clear-ended-filter', onclick: clearEndedFilter }, 'Show all'));
  endedFilter.hidden = false;
  selectTab(eventsTab);
  refreshEvents();
  eventsSection.scrollIntoView({ block: 'start' });
}
function clearEndedFilter() {
  endedIn = null;
  endedFilter.hidden = true;
  statusFilter.value = '';
  refreshEvents();
}

// ---- Recent events ---------------------------------------------------------------------------

const statusFilter = el(
  'select',
  { id: 'status-filter', 'aria-label': 'Filter by status' },
  el('option', { value: '' }, 'All statuses'),
  ['RECEIVED', 'PROCESSING', 'PROCESSED', 'FAILED'].map((s) => el('option', { value: s }, s)),
);
const tbody = el('tbody', { id: 'events-body' });
const eventsError = el('div');
const table = el(
  'table',
  { class: 'events' },
  el('thead', {}, el('tr', {}, ['Status', 'Event type', 'Delivery id', 'Attempts', 'Received', 'Outcome or error', ''].map((h) => el('th', { scope: 'col' }, h)))),
  tbody,
);
const emptyEvents = el('p', { class: 'muted', id: 'no-events', hidden: true }, 'No events yet. Deliveries to the webhook URL show up here within seconds.');
eventsSection.append(
  el('header', { class: 'section-header' }, el('h2', {}, 'Recent Events'), endedFilter, statusFilter),
  eventsError,
  el('div', { class: 'table-wrap' }, table),
  emptyEvents,
);
const linkedEvent = params.get('event');
const linkedEventPath = linkedEvent === null ? null : segment(linkedEvent);
const openRows = new Set(linkedEvent ? [linkedEvent] : []);
// A linked event (from a run or notification) older than the latest 50 is shown on its own.
const linkedSection = el('section', { id: 'linked-event', class: 'card', hidden: true });
eventsSection.before(linkedSection);
statusFilter.addEventListener('change', () => {
  // The chart's hour filter is for failed events; another status means the whole list again.
  if (endedIn && statusFilter.value !== 'FAILED') {
    endedIn = null;
    endedFilter.hidden = true;
  }
  refreshEvents();
});

function eventCells(e) {
  const retry = e.status === 'FAILED'
    ? el('button', { type: 'button', class: 'small retry', dataset: { needs: 'write' }, onclick: (ev) => { ev.stopPropagation(); retryEvent(e.id); } }, 'Retry')
    : null;
  return [
    el('td', {}, statusBadge(e.status)),
    el('td', { class: 'event-type' }, e.eventType, ...(e.verified ? [] : [' ',
      el('span', { class: 'badge unverified', title: 'No signature was checked: it makes no outbound call unless allow_unverified is on' }, 'Unverified')])),
    el('td', {}, el('code', {}, e.deliveryId || '—')),
    el('td', {}, String(e.attempts)),
    el('td', {}, timeText(e.receivedAt)),
    el('td', { class: e.error ? 'error-text' : '' }, e.error || e.outcome || ''),
    el('td', {}, retry),
  ];
}

function eventRow(e) {
  const tr = el('tr', { class: 'event-row', tabindex: 0, 'aria-expanded': openRows.has(e.id) ? 'true' : 'false', dataset: { id: e.id, status: e.status } }, eventCells(e));
  const toggle = () => toggleDetail(e.id);
  tr.addEventListener('click', toggle);
  tr.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      toggle();
    }
  });
  return tr;
}

async function loadDetail(eventId, cell) {
  try {
    const detail = await api('GET', `/integrations/${idPath}/events/${segment(eventId)}`);
    clear(
      cell,
      el('h3', {}, 'Headers'),
      el('table', { class: 'headers' }, el('tbody', {}, detail.headers.map((h) => el('tr', {}, el('th', { scope: 'row' }, h.name), el('td', {}, h.value))))),
      el('h3', {}, 'Decision trace'),
      el('ol', { class: 'trace' }, detail.trace.map((s) => el('li', { dataset: { stage: s.stage } }, el('span', { class: 'badge' }, s.stage), ' ', s.text))),
      el('h3', {}, `Payload (${detail.payloadEncoding})`),
      detail.payloadEncoding === 'json' ? pretty(detail.payload) : el('pre', { class: 'payload' }, detail.payload),
    );
  } catch (e) {
    clear(cell, errorBox(e));
  }
}

function detailRow(eventId) {
  const cell = el('td', { colspan: 7, class: 'event-detail' }, el('p', { class: 'muted' }, 'Loading…'));
  loadDetail(eventId, cell);
  return el('tr', { class: 'detail-row', dataset: { detailFor: eventId } }, cell);
}

function toggleDetail(eventId) {
  const row = tbody.querySelector(`tr.event-row[data-id="${CSS.escape(eventId)}"]`);
  const open = tbody.querySelector(`tr.detail-row[data-detail-for="${CSS.escape(eventId)}"]`);
  if (open) {
    open.remove();
    openRows.delete(eventId);
    row?.setAttribute('aria-expanded', 'false');
  } else if (row) {
    openRows.add(eventId);
    row.setAttribute('aria-expanded', 'true');
    row.after(detailRow(eventId));
  }
}

async function retryEvent(eventId) {
  try {
    await api('POST', `/integrations/${idPath}/events/${segment(eventId)}/retry`);
    await refreshEvents();
  } catch (e) {
    clear(eventsError, errorBox(e));
  }
}

/** Updates the table in place: rows keep their place, open details stay open, scroll stays. */
async function refreshEvents() {
  let query = statusFilter.value ? `&status=${statusFilter.value}` : '';
  if (endedIn) query += `&processedFrom=${encodeURIComponent(endedIn.from)}&processedBefore=${encodeURIComponent(endedIn.before)}`;
  let page;
  try {
    page = await api('GET', `/integrations/${idPath}/events?limit=50${query}`);
    clear(eventsError);
  } catch (e) {
    clear(eventsError, errorBox(e));
    return;
  }
  const wanted = new Set(page.items.map((e) => e.id));
  for (const row of [...tbody.querySelectorAll('tr.event-row')]) {
    if (!wanted.has(row.dataset.id)) {
      tbody.querySelector(`tr.detail-row[data-detail-for="${CSS.escape(row.dataset.id)}"]`)?.remove();
      row.remove();
    }
  }
  let previous = null;
  for (const e of page.items) {
    let row = tbody.querySelector(`tr.event-row[data-id="${CSS.escape(e.id)}"]`);
    if (!row) {
      row = eventRow(e);
      if (previous) {
        const detail = tbody.querySelector(`tr.detail-row[data-detail-for="${CSS.escape(previous.dataset.id)}"]`);
        (detail || previous).after(row);
      } else {
        tbody.prepend(row);
      }
      if (openRows.has(e.id)) row.after(detailRow(e.id));
    } else if (row.dataset.status !== e.status || row.dataset.attempts !== String(e.attempts)) {
      row.replaceChildren(...eventCells(e));
      row.dataset.status = e.status;
    }
    row.dataset.attempts = String(e.attempts);
    previous = row;
  }
  emptyEvents.hidden = page.items.length > 0;
  refreshCounts();
}

async function showLinkedEvent() {
  if (!linkedEvent || tbody.querySelector(`tr.event-row[data-id="${CSS.escape(linkedEvent)}"]`)) return;
  try {
    const e = await api('GET', `/integrations/${idPath}/events/${linkedEventPath}`);
    const cell = el('td', { colspan: 7, class: 'event-detail' }, el('p', { class: 'muted' }, 'Loading…'));
    loadDetail(e.id, cell);
    clear(
      linkedSection,
      el('h2', {}, 'Linked event'),
      el('p', { class: 'muted' }, 'Older than the recent events below.'),
      el(
        'div',
        { class: 'table-wrap' },
        el('table', { class: 'events' }, el('tbody', {}, el('tr', { class: 'linked-row', dataset: { id: e.id } }, eventCells(e)), el('tr', {}, cell))),
      ),
    );
  } catch (err) {
    clear(linkedSection, el('h2', {}, 'Linked event'), errorBox(err.status === 404 ? 'The linked event no longer exists (it may have been pruned).' : err));
  }
  linkedSection.hidden = false;
}

// ---- Rejected deliveries ---------------------------------------------------------------------

const rejectionsBody = el('tbody', { id: 'rejections-body' });
const noRejections = el('p', { class: 'muted', id: 'no-rejections', hidden: true }, 'No refused deliveries. Deliveries with a bad signature or format would be listed here, with the reason.');
const rejectionsError = el('div');
rejectionsSection.append(
  el('header', { class: 'section-header' }, el('h2', {}, 'Rejected deliveries'), el('span', { class: 'muted' }, 'The last 100, newest first. Bodies are not kept: compare the size and SHA-256 with the sender\u2019s log.')),
  rejectionsError,
  el(
    'div',
    { class: 'table-wrap' },
    el('table', { class: 'events' },
      el('thead', {}, el('tr', {}, ['Time', 'Status', 'Reason', 'Source', 'Body', 'Headers'].map((h) => el('th', { scope: 'col' }, h)))),
      rejectionsBody),
  ),
  noRejections,
);

function rejectionRow(r) {
  return el(
    'tr',
    { class: 'rejection-row' },
    el('td', {}, timeText(r.at)),
    el('td', {}, String(r.status)),
    el('td', { class: 'error-text rejection-reason' }, r.reason),
    el('td', {}, el('code', {}, r.source || '—')),
    el('td', {}, `${r.bodyBytes} bytes `, el('code', { title: r.bodySha256 }, `sha256 ${r.bodySha256.slice(0, 12)}…`)),
    el('td', {}, el('details', {}, el('summary', {}, `${r.headers.length} headers`),
      el('table', { class: 'headers' }, el('tbody', {}, r.headers.map((h) => el('tr', {}, el('th', { scope: 'row' }, h.name), el('td', {}, h.value))))))),
  );
}

async function refreshRejections() {
  try {
    const list = await api('GET', `/integrations/${idPath}/rejections`);
    clear(rejectionsError);
    clear(rejectionsBody, list.items.map(rejectionRow));
    noRejections.hidden = list.items.length > 0;
  } catch (e) {
    clear(rejectionsError, errorBox(e));
  }
}

function tab(idName, label, panel) {
  const button = el('button', { type: 'button', role: 'tab', id: idName, 'aria-controls': panel.id, 'aria-selected': 'false' }, label);
  button.addEventListener('click', () => selectTab(button));
  return button;
}
const eventsTab = tab('tab-events', 'Recent events', eventsSection);
const rejectionsTab = tab('tab-rejections', 'Rejected deliveries', rejectionsSection);
tabs.append(eventsTab, rejectionsTab);

function selectTab(button) {
  for (const t of [eventsTab, rejectionsTab]) {
    const selected = t === button;
    t.setAttribute('aria-selected', String(selected));
    document.getElementById(t.getAttribute('aria-controls')).hidden = !selected;
  }
  if (button === rejectionsTab) refreshRejections();
}
selectTab(params.get('tab') === 'rejections' ? rejectionsTab : eventsTab);

/** Keeps the summary's counters current without re-rendering it (a test result stays). */
async function refreshCounts() {
  try {
    const fresh = await api('GET', `/integrations/${idPath}`);
    document.getElementById('event-count').textContent = String(fresh.eventCount);
    document.getElementById('rejected-count').textContent = String(fresh.rejectedDeliveries.count);
    if (!rejectionsSection.hidden) refreshRejections();
  } catch {
    // The next poll tries again.
  }
}

// ---- A GitHub App's installations ------------------------------------------------------------

function installationCard(inst) {
  return el(
    'div',
    { class: 'card installation', dataset: { installation: String(inst.installationId) } },
    el('h3', {}, inst.account, ' ', el('span', { class: 'muted' }, `installation ${inst.installationId}`),
      inst.suspendedAt ? el('span', { class: 'badge status-failed' }, 'Suspended') : null),
    inst.repositories.length
      ? el('ul', { class: 'installed-repos' }, inst.repositories.map((r) => el(
        'li',
        { class: r.admitted ? 'admitted' : 'not-admitted', title: r.decision },
        el('code', {}, r.repo), ' ',
        el('span', { class: `badge ${r.admitted ? 'verified' : 'unverified'}` }, r.admitted ? 'Admitted' : 'Not admitted'),
        el('span', { class: 'muted' }, ' ', r.decision),
      )))
      : el('p', { class: 'muted' }, 'No repositories listed yet: GitHub lists them when the App is installed or its repositories change.'),
  );
}

async function renderInstallations() {
  if (integration.type === 'GITHUB' && !integration.config.app_id && !integration.config.token) {
    installationsSection.hidden = false;
    clear(
      installationsSection,
      el('div', { class: 'card', id: 'github-app-offer' },
        el('h2', {}, 'For a whole organisation'),
        el('p', {}, 'One GitHub App delivers every repository’s events here and posts check runs with short-lived tokens: no personal token.'),
        el('p', {}, el('a', { class: 'button primary', href: `/integrations/${idPath}/github-app`, id: 'create-github-app', dataset: { needs: 'admin' } }, 'Create a GitHub App'))),
    );
    return;
  }
  if (integration.type !== 'GITHUB' || !integration.config.app_id) {
    installationsSection.hidden = true;
    return;
  }
  installationsSection.hidden = false;
  try {
    const list = await api('GET', `/integrations/${idPath}/installations`);
    clear(
      installationsSection,
      el('h2', {}, 'GitHub App installations'),
      list.items.length
        ? list.items.map(installationCard)
        : el('p', { class: 'muted', id: 'no-installations' }, 'No installation heard of yet: install the App on an organisation, and its deliveries will show here what it can see.'),
    );
  } catch (e) {
    clear(installationsSection, el('h2', {}, 'GitHub App installations'), errorBox(e));
  }
}

// ---- Start -----------------------------------------------------------------------------------

async function loadIntegration() {
  try {
    integration = await api('GET', `/integrations/${idPath}`);
  } catch (e) {
    clear(summary, pageHeader('Integration'), errorBox(e.status === 404 ? 'This integration does not exist (any more).' : e));
    eventsSection.remove();
    rejectionsSection.remove();
    statsSection.remove();
    tabs.remove();
    return false;
  }
  renderSummary();
  renderSetup();
  renderEditor();
  await renderInstallations();
  return true;
}

if (await loadIntegration()) {
  await refreshEvents();
  await showLinkedEvent();
  setInterval(refreshEvents, POLL_MS);
  await refreshStats();
  setInterval(refreshStats, STATS_POLL_MS);
}
