import { api, clear, copyButton, el, errorBox, layout, pageHeader, pretty, requireToken, statusBadge, timeText, typeMark } from '/assets/app.js';

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
  }
} catch (error) {
  clear(body, errorBox(error));
}
