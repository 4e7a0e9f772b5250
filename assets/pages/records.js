// Eval runs, deployments and notifications: one table page each, chosen by the path.
import { api, clear, el, errorBox, layout, pageHeader, requireToken, segment, statusBadge, timeText } from '/assets/app.js';
import { sparkline } from '/assets/chart.js';

requireToken();

const short = (sha) => el('code', { title: sha }, sha ? sha.slice(0, 12) : '—');
const eventLink = (r) =>
  r.sourceEventId
    ? el('a', { href: `/integrations/${r.integrationId}?event=${r.sourceEventId}` }, 'source event')
    : el('span', { class: 'muted' }, '—');
const link = (url, text) => (url && /^https?:\/\//.test(url) ? el('a', { href: url, rel: 'noreferrer' }, text) : text);
// A number as the pull request comment writes it: at most three decimals.
const number = (v) => (v === undefined || v === null ? '–' : String(Number(v.toFixed(3))));
const signed = (v) => (v === undefined || v === null ? '–' : v === 0 || Number(v.toFixed(3)) === 0 ? '±0' : (v > 0 ? '+' : '') + number(v));

/** An eval run's results beside its baseline's: the metrics table and the failing cases. Every
 * name and message came from a runner: text nodes only. */
async function showResults(panel, id) {
  clear(panel, el('p', { class: 'muted' }, 'Loading results…'));
  panel.hidden = false;
  try {
    const r = await api('GET', `/eval-runs/${segment(id)}/results`);
    const heading = el('h2', { id: 'results-heading', tabindex: '-1' }, 'Results');
    if (!r.reported) {
      clear(panel, heading, el('p', { class: 'muted' }, 'No results reported for this run yet.'));
      return;
    }
    const baseline = r.baseline
      ? el('p', { class: 'baseline' }, 'Baseline: run ', el('code', {}, r.baseline.id), r.baseline.number ? ` of #${r.baseline.number} at ` : ' of the push of ', el('code', {}, r.baseline.headSha.slice(0, 7)), '.')
      : el('p', { class: 'muted baseline' }, 'No baseline yet: no earlier run of a merged pull request succeeded with results.');
    const verdict = (v) => (v === true ? el('span', { class: 'ok-text', title: 'passes its threshold' }, '✔ pass') : v === false ? el('span', { class: 'error-text', title: 'misses its threshold' }, '✘ fail') : '');
    const metrics = r.metrics.length
      ? el('div', { class: 'table-wrap' }, el('table', { id: 'results-metrics' },
          el('caption', {}, 'Metrics against the baseline'),
          el('thead', {}, el('tr', {}, ['Metric', 'Value', 'Baseline', 'Change', 'Threshold', 'Verdict'].map((c) => el('th', { scope: 'col' }, c)))),
          el('tbody', {}, r.metrics.map((m) => el('tr', {},
            el('th', { scope: 'row' }, m.name),
            el('td', {}, number(m.value) + (m.unit ? ` ${m.unit}` : '')),
            el('td', {}, number(m.baseline)),
            el('td', {}, signed(m.change)),
            el('td', {}, m.threshold === undefined ? '–' : `${m.higherIsBetter ? '≥' : '≤'} ${number(m.threshold)}`),
            el('td', {}, verdict(m.passed)),
          )))))
      : null;
    const failing = r.failingCases.length
      ? el('div', { class: 'table-wrap' }, el('table', { id: 'results-failing' },
          el('caption', {}, `Failing cases (${r.failingCases.length} of ${r.casesTotal})`),
          el('thead', {}, el('tr', {}, ['Case', 'Score', 'Where', 'Message'].map((c) => el('th', { scope: 'col' }, c)))),
          el('tbody', {}, r.failingCases.map((c) => el('tr', {},
            el('th', { scope: 'row' }, c.name),
            el('td', {}, c.score === undefined ? '' : number(c.score)),
            el('td', {}, c.path ? el('code', {}, c.line ? `${c.path}:${c.line}` : c.path) : ''),
            el('td', {}, c.message || ''),
          )))))
      : el('p', { class: 'muted' }, r.casesTotal ? `All ${r.casesTotal} cases passed.` : 'No cases reported.');
    clear(panel, heading, r.line ? el('p', { class: 'results-line' }, el('strong', {}, r.line)) : null, metrics, failing, baseline);
    heading.focus();
  } catch (e) {
    clear(panel, errorBox(e));
  }
}

// What was last said to GitHub/GitLab about a run, and the answer.
const posted = (p) =>
  p
    ? el(
        'span',
        { class: 'posted', title: p.lastError || '' },
        statusBadge(p.status),
        ` ${p.state || p.kind.toLowerCase()}`,
        p.responseStatus ? ` · ${p.responseStatus}` : '',
        // An element, so its exact time stays the tooltip (a template string would print the object).
        p.sentAt ? [' · ', timeText(p.sentAt)] : '',
      )
    : el('span', { class: 'muted' }, '—');
const answer = (r) => {
  const text = r.lastError || [r.responseStatus, r.responseExcerpt].filter(Boolean).join(' ');
  return el('span', { class: r.lastError ? 'error-text' : '' }, text);
};
// Commit SHAs in paths are shortened for reading; the full request is in the title.
const what = (r) => {
  const full = r.eventType || `${r.request?.method || ''} ${r.request?.path || ''}`.trim();
  return el('code', { title: full }, full.replace(/[0-9a-f]{40}/g, (sha) => `${sha.slice(0, 7)}…`));
};
async function retryRow(row, button) {
  button.disabled = true;
  try {
    const fresh = await api('POST', `/outbox/${row.id}/retry`);
    const tr = button.closest('tr');
    tr.replaceChildren(...PAGES['/outbox'].cells(fresh).map((c) => el('td', {}, c)));
  } catch (e) {
    button.replaceWith(errorBox(e));
  }
}

const PAGES = {
  '/eval-runs': {
    key: 'eval-runs',
    title: 'Eval runs',
    path: '/eval-runs',
    empty: 'No eval runs yet. A pull or merge request against an integration\u2019s branch creates one.',
    columns: ['Status', 'Repository', 'PR', 'Title', 'Head', 'Score', 'Posted', 'Created', 'Source'],
    cells: (r) => [
      r.supersededBy ? el('span', {}, statusBadge(r.status), ' ', el('span', { class: 'muted' }, 'superseded')) : statusBadge(r.status),
      r.repo,
      r.number ? link(r.url, `#${r.number}`) : 'push',
      r.title || '',
      link(r.commitUrl, short(r.headSha)),
      // The run's results open above the table (the address keeps the run: `/eval-runs#<id>`).
      el('a', { href: `#${r.id}`, class: 'results-link', 'aria-label': r.number ? `Results of the run of #${r.number}` : `Results of the run of the push of ${r.headSha.slice(0, 7)}` }, r.score === undefined ? 'results' : number(r.score)),
      posted(r.lastPost),
      timeText(r.createdAt),
      eventLink(r),
    ],
  },
  '/deployments': {
    key: 'deployments',
    title: 'Deployments',
    path: '/deployments',
    empty: 'No deployments yet. A merge or push into an integration\u2019s branch creates one.',
    columns: ['Status', 'Repository', 'Commit', 'Branch', 'PR', 'Posted', 'Created', 'Source'],
    cells: (d) => [statusBadge(d.status), d.repo, link(d.commitUrl || d.url, short(d.commitSha)), d.branch, d.prNumber ? link(d.prUrl, `#${d.prNumber}`) : '—', posted(d.lastPost), timeText(d.createdAt), eventLink(d)],
  },
  '/notifications': {
    key: 'notifications',
    title: 'Notifications',
    path: '/notifications',
    empty: 'No notifications yet. Add a SLACK integration; eval runs, promotions and webhook events are announced to it.',
    columns: ['Status', 'Event', 'Slack integration', 'Attempts', 'Last error', 'Created', 'Sent'],
    cells: (n) => [statusBadge(n.status), n.eventType, el('a', { href: `/integrations/${n.integrationId}` }, 'open'), String(n.attempts), n.lastError || '', timeText(n.createdAt), timeText(n.sentAt)],
  },
  '/outbox': {
    key: 'outbox',
    title: 'Outbox',
    path: '/outbox',
    empty: 'Nothing has been sent yet. Slack messages, commit statuses and GitHub deployments appear here as they are queued.',
    columns: ['Status', 'Kind', 'What', 'Destination', 'Attempts', 'Answer', 'Created', 'Sent', ''],
    cells: (r) => [
      statusBadge(r.status),
      r.kind,
      what(r),
      el('code', { class: 'destination', title: r.destination }, r.destination.replace(/:([0-9a-f]{16})$/, (_, fp) => `:${fp.slice(0, 6)}…`)),
      String(r.attempts),
      answer(r),
      timeText(r.createdAt),
      timeText(r.sentAt),
      r.status === 'FAILED' ? el('button', { type: 'button', class: 'small retry', dataset: { needs: 'write' }, onclick: (ev) => retryRow(r, ev.target) }, 'Retry') : null,
    ],
  },
};

const page = PAGES[location.pathname] || PAGES['/eval-runs'];
const main = layout(page.key, page.title);
const body = el('section', { id: 'records' }, el('p', { class: 'muted' }, 'Loading…'));
main.append(pageHeader(page.title));
if (page.key === 'outbox') main.append(await destinationsPanel());
if (page.key === 'eval-runs') {
  const panel = el('section', { id: 'run-results', class: 'card', 'aria-labelledby': 'results-heading', hidden: true });
  main.append(panel);
  const open = () => {
    const id = decodeURIComponent(location.hash.slice(1));
    if (/^[0-9a-zA-Z_-]{1,64}$/.test(id)) showResults(panel, id);
    else panel.hidden = true;
  };
  window.addEventListener('hashchange', open);
  open();
}
main.append(body);

/** A destination in people's words: whose it is and the remote's host; the key (ids and a token
 * fingerprint) stays in the tooltip. */
function destinationName(d) {
  const who = d.integrations.length ? d.integrations.join(', ') : null;
  const where = d.host || (d.destination.startsWith('slack:') ? 'Slack' : null);
  const parts = [who, where].filter(Boolean);
  return parts.length ? parts.join(' · ') : d.destination;
}

/** A destination's last 24 hours: sent per hour (the failed part in red), and its pauses. */
async function lastDay(d, sentCell, pausedCell) {
  try {
    const stats = await api('GET', `/outbox/destinations/${segment(d.destination)}/stats?bucket=hour`);
    const t = stats.totals;
    const minutes = Math.round(t.pausedSeconds / 60);
    const paused = t.pausedSeconds ? (minutes ? `${minutes} min` : `${t.pausedSeconds} s`) : 'never';
    const label = `Last 24 hours: ${t.sent} sent, ${t.failed} failed, ${t.retried} retried, paused ${paused}`;
    clear(
      sentCell,
      sparkline(stats.buckets.map((b) => b.sent + b.failed), stats.buckets.map((b) => b.failed), label),
      ' ',
      el('span', { class: 'destination-counts', title: label }, `${t.sent} sent · ${t.failed} failed`),
    );
    clear(pausedCell, paused);
  } catch (e) {
    clear(sentCell, el('span', { class: 'error-text' }, e.message));
  }
}

/** Destinations with work waiting, failed rows, a pause their remote asked for, or anything
 * sent in the last 24 hours. */
async function destinationsPanel() {
  const panel = el('section', { id: 'destinations', class: 'card' }, el('h2', {}, 'Destinations'));
  try {
    const list = await api('GET', '/outbox/destinations');
    if (list.length === 0) {
      panel.append(el('p', { class: 'muted' }, 'Every destination is idle.'));
    } else {
      panel.append(
        el(
          'div',
          { class: 'table-wrap' },
          el(
            'table',
            {},
            el('thead', {}, el('tr', {}, ['Destination', 'Last 24 hours', 'Paused (24 h)', 'Waiting', 'Failed', 'Paused until', 'Why', 'Last error'].map((c) => el('th', { scope: 'col' }, c)))),
            el(
              'tbody',
              {},
              list.map((d) => {
                const sentCell = el('td', { class: 'last-day' }, el('span', { class: 'muted' }, '…'));
                const pausedCell = el('td', { class: 'paused-day' }, '');
                lastDay(d, sentCell, pausedCell);
                return el('tr', { dataset: { destination: d.destination } },
                  el('td', { class: 'destination-name', title: d.destination }, destinationName(d)),
                  sentCell,
                  pausedCell,
                  el('td', {}, String(d.pending)),
                  el('td', {}, String(d.failed)),
                  el('td', {}, d.pausedUntil ? timeText(d.pausedUntil) : '—'),
                  el('td', {}, d.reason || ''),
                  el('td', { class: d.lastError ? 'error-text' : '' }, d.lastError || ''),
                );
              }),
            ),
          ),
        ),
      );
    }
  } catch (e) {
    panel.append(errorBox(e));
  }
  return panel;
}

// Pages of PAGE_SIZE rows; "Load more" follows nextCursor until every row is on the page.
const PAGE_SIZE = 100;
const tbody = el('tbody', {});
const more = el('button', { type: 'button', id: 'load-more', hidden: true }, 'Load more');
const moreError = el('div');
let cursor = null;

async function loadPage() {
  const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
  const { items, nextCursor } = await api('GET', `${page.path}?limit=${PAGE_SIZE}${after}`);
  tbody.append(...items.map((r) => el('tr', { dataset: { id: r.id } }, page.cells(r).map((c) => el('td', {}, c)))));
  cursor = nextCursor || null;
  more.hidden = !cursor;
  return items.length;
}

more.addEventListener('click', async () => {
  more.disabled = true;
  try {
    await loadPage();
    clear(moreError);
  } catch (e) {
    clear(moreError, errorBox(e));
  } finally {
    more.disabled = false;
  }
});

try {
  if ((await loadPage()) === 0) {
    clear(body, el('p', { class: 'muted card', id: 'no-records' }, page.empty));
  } else {
    clear(
      body,
      el(
        'div',
        { class: 'table-wrap card' },
        el('table', {}, el('thead', {}, el('tr', {}, page.columns.map((c) => el('th', { scope: 'col' }, c)))), tbody),
      ),
      moreError,
      el('p', { class: 'load-more' }, more),
    );
  }
} catch (e) {
  clear(body, errorBox(e));
}
