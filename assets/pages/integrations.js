import { api, clear, copyButton, el, errorBox, layout, pageHeader, pretty, requireToken, segment, statusBadge, timeText, typeMark } from '/assets/app.js';
import { percent, sparkline } from '/assets/chart.js';

requireToken();
const main = layout('integrations', 'Integrations');
const newButton = el('a', { class: 'button primary', href: '/integrations/new', id: 'new-integration', dataset: { needs: 'write' } }, 'New Integration');
const body = el('section', { id: 'integrations' }, el('p', { class: 'muted' }, 'Loading…'));
main.append(pageHeader('Integrations', newButton), body);

function row(i) {
  return el(
    'article',
    { class: 'card integration', dataset: { id: i.id } },
    el(
      'header',
      {},
      el('h2', {}, el('a', { href: `/integrations/${i.id}`, class: 'integration-name' }, i.name)),
      typeMark(i.type),
      statusBadge(i.isActive ? 'ACTIVE' : 'INACTIVE'),
      el('span', { class: `badge ${i.verified ? 'verified' : 'unverified'}` }, i.verified ? 'Verified' : 'Unverified'),
    ),
    el(
      'dl',
      { class: 'facts' },
      el('dt', {}, 'Events'),
      el('dd', { class: 'event-count' }, String(i.eventCount)),
      el('dt', {}, 'Last 24 hours'),
      el('dd', { class: 'last-day', dataset: { id: i.id } }, el('span', { class: 'muted' }, '…')),
      el('dt', {}, 'Last event'),
      el('dd', {}, timeText(i.lastEventAt)),
      el('dt', {}, 'Created'),
      el('dd', {}, timeText(i.createdAt)),
      el('dt', {}, 'Webhook URL'),
      el('dd', { class: 'url' }, el('code', { class: 'webhook-url' }, i.webhookUrl), copyButton(i.webhookUrl)),
    ),
    i.warnings.length
      ? el('ul', { class: 'warnings' }, i.warnings.map((w) => el('li', { class: i.unverifiedActs && w.startsWith('No secret') ? 'notice danger' : 'notice' }, w)))
      : null,
    el('details', {}, el('summary', {}, 'Config'), el('div', { class: 'config' }, pretty(i.config))),
  );
}

/** A card's 24-hour sparkline (deliveries ended per hour, the failed part in red) and its
 * failure rate, with the same numbers as text. */
async function lastDay(integrationId) {
  const cell = body.querySelector(`dd.last-day[data-id="${CSS.escape(integrationId)}"]`);
  try {
    const stats = await api('GET', `/integrations/${segment(integrationId)}/stats?bucket=hour`);
    const t = stats.totals;
    const ended = t.processed + t.failed;
    const rate = percent(t.failed, ended);
    const label = `Last 24 hours: ${t.received} received, ${t.processed} processed, ${t.failed} failed (${rate}), ${t.rejected} rejected`;
    clear(
      cell,
      sparkline(stats.buckets.map((b) => b.processed + b.failed), stats.buckets.map((b) => b.failed), label),
      ' ',
      el('span', { class: t.failed ? 'failure-rate error-text' : 'failure-rate muted', title: label }, ended ? `${rate} failed` : 'nothing processed'),
    );
  } catch (e) {
    clear(cell, el('span', { class: 'error-text' }, e.message));
  }
}

try {
  const list = await api('GET', '/integrations');
  if (list.length === 0) {
    clear(
      body,
      el(
        'div',
        { class: 'empty card', id: 'empty-state' },
        el('h2', {}, 'No integrations yet'),
        el(
          'p',
          {},
          'An integration connects Provenant to an outside service: GitHub or GitLab (eval runs on pull requests, deployments on merge), Slack (notifications) or any service that sends webhooks.',
        ),
        el('a', { class: 'button primary', href: '/integrations/new', dataset: { needs: 'write' } }, 'New Integration'),
      ),
    );
  } else {
    clear(body, list.map(row));
    // Each card's day, asked side by side; a card whose numbers fail says so on its own.
    await Promise.all(list.map((i) => lastDay(i.id)));
  }
} catch (error) {
  clear(body, errorBox(error));
}
