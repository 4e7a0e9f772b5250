// Charts as inline SVG, built node by node like the rest of the pages: no library, no CDN and
// no inline style (the pages' Content-Security-Policy allows neither); colours come from
// style.css classes. Every bar carries its numbers as text (its accessible name and tooltip),
// and every chart has a table view one click away.
import { el } from '/assets/app.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const HOUR_MS = 3_600_000;

/** A bucket's time in words: "3 Dec, 09:00–10:00" for an hour, "3 Dec" for a day. */
export function bucketLabel(startIso, bucket) {
  const start = new Date(startIso);
  const day = start.toLocaleDateString([], { day: 'numeric', month: 'short' });
  if (bucket === 'day') return day;
  const time = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return `${day}, ${time(start)}–${time(new Date(start.getTime() + HOUR_MS))}`;
}

/** "4 processed, 1 failed": the counts of one bucket, the zero ones left out. */
export function countsText(bucket, series) {
  const parts = series.filter((s) => bucket[s.key]).map((s) => `${bucket[s.key]} ${bucket[s.key] === 1 && s.one ? s.one : s.label}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

/**
 * Stacked bars, one per bucket, with a readout of the bar under the pointer or focus, and a
 * table of the same numbers behind a button.
 * - `buckets`: the stats API's buckets (`start` plus a count per series);
 * - `series`: `{ key, label, one, className }`, bottom first (`one`: the label of 1, if other);
 * - `onSegment(bucket, key)`: called when a segment is clicked (or a focused bar is chosen
 *   with Enter, for its first clickable series); `clickable` names the series it is for.
 */
export function stackedBars({ id, title, buckets, bucket, series, clickable = [], onSegment }) {
  const width = 720;
  const height = 150;
  const axis = 18;
  const total = (b) => series.reduce((n, s) => n + b[s.key], 0);
  const max = Math.max(1, ...buckets.map(total));
  const slot = width / Math.max(1, buckets.length);
  const readout = el('p', { class: 'chart-readout muted', 'aria-live': 'polite' }, 'Point at or focus a bar for its numbers.');
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height + axis}`, role: 'group', 'aria-label': title, focusable: 'false' });
  chart.append(svg('line', { class: 'baseline', x1: 0, y1: height, x2: width, y2: height }));
  buckets.forEach((b, i) => {
    const text = `${bucketLabel(b.start, bucket)}: ${countsText(b, series)}`;
    const bar = svg('g', { class: 'bar', tabindex: 0, role: 'img', 'aria-label': text, 'data-start': b.start }, svg('title', {}, text));
    // The whole column answers the pointer, so an empty hour shows its zeroes too.
    bar.append(svg('rect', { class: 'hit', x: i * slot, y: 0, width: slot, height }));
    let y = height;
    for (const s of series) {
      const count = b[s.key];
      if (!count) continue;
      const h = Math.max(1.5, (count / max) * (height - 4));
      y -= h;
      const canClick = clickable.includes(s.key) && onSegment;
      const rect = svg('rect', {
        class: `segment ${s.className}${canClick ? ' clickable' : ''}`,
        x: i * slot + 1, y, width: Math.max(1, slot - 2), height: h, 'data-series': s.key,
      });
      if (canClick) rect.addEventListener('click', () => onSegment(b, s.key));
      bar.append(rect);
    }
    const show = () => {
      readout.textContent = text;
      readout.classList.remove('muted');
    };
    bar.addEventListener('mouseenter', show);
    bar.addEventListener('focus', show);
    bar.addEventListener('keydown', (ev) => {
      const first = clickable.find((key) => b[key]);
      if ((ev.key === 'Enter' || ev.key === ' ') && first && onSegment) {
        ev.preventDefault();
        onSegment(b, first);
      }
    });
    chart.append(bar);
  });
  // Three time marks: the first bucket, the middle one and the last.
  const marks = [...new Set([0, Math.floor(buckets.length / 2), buckets.length - 1])].filter((i) => i >= 0);
  for (const i of marks) {
    const label = bucket === 'day'
      ? new Date(buckets[i].start).toLocaleDateString([], { day: 'numeric', month: 'short' })
      : new Date(buckets[i].start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const anchor = i === 0 ? 'start' : i === buckets.length - 1 ? 'end' : 'middle';
    const x = i === 0 ? 0 : i === buckets.length - 1 ? width : (i + 0.5) * slot;
    chart.append(svg('text', { class: 'axis', x, y: height + axis - 4, 'text-anchor': anchor, 'aria-hidden': 'true' }, label));
  }
  const legend = el('ul', { class: 'legend' }, series.map((s) => el('li', {}, el('span', { class: `swatch ${s.className}`, 'aria-hidden': 'true' }), s.label)));
  const table = el(
    'table',
    { class: 'chart-table' },
    el('caption', {}, title),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, bucket === 'day' ? 'Day' : 'Hour'), series.map((s) => el('th', { scope: 'col' }, s.label)))),
    el('tbody', {}, buckets.map((b) => el('tr', { dataset: { start: b.start } }, el('th', { scope: 'row' }, bucketLabel(b.start, bucket)), series.map((s) => el('td', {}, String(b[s.key])))))),
  );
  const tableWrap = el('div', { class: 'table-wrap', hidden: true }, table);
  const chartWrap = el('div', { class: 'chart-wrap' }, chart, readout, legend);
  const toggle = el('button', { type: 'button', class: 'small link chart-toggle', 'aria-expanded': 'false', 'aria-controls': `${id}-table` }, 'Show as a table');
  tableWrap.id = `${id}-table`;
  toggle.addEventListener('click', () => {
    const showTable = tableWrap.hidden;
    tableWrap.hidden = !showTable;
    chartWrap.hidden = showTable;
    toggle.textContent = showTable ? 'Show as a chart' : 'Show as a table';
    toggle.setAttribute('aria-expanded', String(showTable));
  });
  return el('figure', { class: 'chart-figure', id }, chartWrap, tableWrap, el('figcaption', {}, toggle));
}

/**
 * A small bar sparkline: `values` per bucket, the `failed` part of each in red. `label` is its
 * text equivalent.
 */
export function sparkline(values, failed, label) {
  const width = 120;
  const height = 24;
  const max = Math.max(1, ...values);
  const slot = width / Math.max(1, values.length);
  const line = svg('svg', { class: 'sparkline', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label }, svg('title', {}, label));
  line.append(svg('line', { class: 'baseline', x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }));
  values.forEach((value, i) => {
    if (!value) return;
    const h = Math.max(1.5, (value / max) * (height - 2));
    const bad = failed[i] ? Math.max(1, (failed[i] / max) * (height - 2)) : 0;
    line.append(svg('rect', { class: 'spark', x: i * slot + 0.5, y: height - h, width: Math.max(1, slot - 1), height: h - bad }));
    if (bad) line.append(svg('rect', { class: 'spark failed', x: i * slot + 0.5, y: height - bad, width: Math.max(1, slot - 1), height: bad }));
  });
  return line;
}

/** "≤ 250 ms", "≤ 2.5 s": a latency bucket's bound. */
export function latencyText(ms) {
  if (ms === undefined || ms === null) return '—';
  return ms < 1000 ? `≤ ${ms} ms` : `≤ ${ms / 1000} s`;
}

/** "2.5 %" of `part` in `whole`; "—" of nothing. */
export function percent(part, whole) {
  if (!whole) return '—';
  const p = (100 * part) / whole;
  return `${p < 10 && p > 0 ? p.toFixed(1) : Math.round(p)} %`;
}
