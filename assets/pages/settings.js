import { api, clear, el, errorBox, layout, pageHeader, requireToken } from '/assets/app.js';

requireToken();
const main = layout('settings', 'Settings');
const summary = el('div', { id: 'checkup-summary', 'aria-live': 'polite' });
const list = el('section', { id: 'checkup', 'aria-busy': 'true' });
const again = el('button', { type: 'button', id: 'checkup-again', onclick: () => load() }, 'Check again');

/** One line of the checklist: ✔ or ✘, what was looked at, what was found, what to do. */
function line(check) {
  return el(
    'li',
    { class: check.ok ? 'check ok' : 'check failed', dataset: { ok: String(check.ok) } },
    el('span', { class: 'mark', 'aria-label': check.ok ? 'fine' : 'problem' }, check.ok ? '✔' : '✘'),
    el('div', {}, el('strong', {}, check.subject), ': ', check.finding, check.fix ? el('p', { class: 'hint fix' }, '→ ', check.fix) : null),
  );
}

async function load() {
  list.setAttribute('aria-busy', 'true');
  again.disabled = true;
  clear(summary, el('p', { class: 'muted' }, 'Checking the installation, its public URL, its clock and every integration’s credentials…'));
  try {
    const result = await api('GET', '/doctor');
    const failed = result.checks.filter((c) => !c.ok).length;
    clear(summary, el('p', { class: failed ? 'hint error' : 'hint ok' }, failed ? `${failed} problem${failed > 1 ? 's' : ''} found.` : 'Everything checked is fine.'));
    clear(list, el('ul', { class: 'card checklist' }, result.checks.map(line)));
  } catch (e) {
    clear(summary, errorBox(e));
    clear(list);
  } finally {
    list.setAttribute('aria-busy', 'false');
    again.disabled = false;
  }
}

main.append(
  pageHeader('Settings', again),
  el('p', { class: 'muted' }, 'What ', el('code', {}, 'provenant doctor'), ' checks, run by the server on itself. It only reads: nothing is sent to Slack or changed.'),
  summary,
  list,
);
await load();
