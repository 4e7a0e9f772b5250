// Eval runs, deployments and notifications: one table page each, chosen by the path.
import { api, clear, el, errorBox, layout, pageHeader, requireToken, statusBadge, timeText } from '/assets/app.js';

requireToken();

const short = (sha) => el('code', { title: sha }, sha ? sha.slice(0, 12) : '—');
const eventLink = (r) =>
  r.sourceEventId
    ? el('a', { href: `/integrations/${r.integrationId}?event=${r.sourceEventId}` }, 'source event')
    : el('span', { class: 'muted' }, '—');
const link = (url, text) => (url && /^https?:\/\//.test(url) ? el('a', { href: url, rel: 'noreferrer' }, text) : text);

const PAGES = {
  '/eval-runs': {
    key: 'eval-runs',
    title: 'Eval runs',
    path: '/eval-runs',
    empty: 'No eval runs yet. A pull or merge request against an integration\u2019s branch creates one.',
    columns: ['Status', 'Repository', 'PR', 'Title', 'Head', 'Created', 'Source'],
    cells: (r) => [statusBadge(r.status), r.repo, link(r.url, `#${r.number}`), r.title || '', link(r.commitUrl, short(r.headSha)), timeText(r.createdAt), eventLink(r)],
  },
  '/deployments': {
    key: 'deployments',
    title: 'Deployments',
    path: '/deployments',
    empty: 'No deployments yet. A merge or push into an integration\u2019s branch creates one.',
    columns: ['Status', 'Repository', 'Commit', 'Branch', 'PR', 'Created', 'Source'],
    cells: (d) => [statusBadge(d.status), d.repo, link(d.commitUrl || d.url, short(d.commitSha)), d.branch, d.prNumber ? link(d.prUrl, `#${d.prNumber}`) : '—', timeText(d.createdAt), eventLink(d)],
  },
  '/notifications': {
    key: 'notifications',
    title: 'Notifications',
    path: '/notifications',
    empty: 'No notifications yet. Add a SLACK integration; eval runs, promotions and webhook events are announced to it.',
    columns: ['Status', 'Event', 'Slack integration', 'Attempts', 'Last error', 'Created', 'Sent'],
    cells: (n) => [statusBadge(n.status), n.eventType, el('a', { href: `/integrations/${n.integrationId}` }, 'open'), String(n.attempts), n.lastError || '', timeText(n.createdAt), timeText(n.sentAt)],
  },
};

const page = PAGES[location.pathname] || PAGES['/eval-runs'];
const main = layout(page.key, page.title);
const body = el('section', { id: 'records' }, el('p', { class: 'muted' }, 'Loading…'));
main.append(pageHeader(page.title), body);

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
