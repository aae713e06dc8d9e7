// Duplicates: groups of exact copies and near-duplicates side by side, with size, date and
// resolution; the user picks the one to keep and the others are deleted (uploads only: pictures in
// folders on the server are never touched, the server says so with 409).

import { el, formatDate, h, plural, sentence } from './dom.js';
import { api, report } from './api.js';
import { thumbUrl } from './pictures.js';
import { toast } from './toast.js';
import { onNavClick, openPage, pageStatus } from './grid.js';

const size = (bytes) => {
  const units = ['B', 'KB', 'MB', 'GB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return `${unit ? n.toFixed(1) : n} ${units[unit]}`;
};

export async function showDuplicates({ fromUrl = false } = {}) {
  const signal = openPage('duplicates', 'Duplicates', 'Looking for duplicates…', fromUrl);
  let data;
  try {
    data = await api('/api/duplicates', { signal });
  } catch (err) {
    if (signal.aborted) return;
    pageStatus('Duplicates', 'Could not look for duplicates.');
    report(err);
    return;
  }
  if (signal.aborted) return;
  render(data);
}

function render(data) {
  const found = `${plural(data.groups.length, 'group')}, ${plural(data.images, 'photo')}`;
  const summary = !data.groups.length
    ? 'No duplicates: every photo is one of a kind.'
    : data.removable_bytes
      ? `${found}; keeping one of each frees ${size(data.removable_bytes)}`
      : `${found}, all in folders on the server: delete the copies there`;
  el.context.replaceChildren(h('h1', { class: 'title' }, 'Duplicates'), h('span', { 'data-testid': 'duplicates-summary' }, summary));
  el.grid.replaceChildren(...data.groups.map((group, n) => groupNode(group, n)));
}

function groupNode(group, n) {
  const name = `keep-${n}`;
  const cards = group.images.map((entry, k) => card(entry, name, k === 0));
  // A group with nothing this app may delete (every copy in a server folder) offers no button.
  const deletable = group.images.some((entry) => entry.deletable);
  const button = deletable
    ? h('button', { type: 'button', class: 'btn primary', 'data-testid': 'duplicates-keep' }, 'Keep the selected one, delete the others')
    : h('span', { class: 'dup-note', 'data-testid': 'duplicates-server-only' }, 'In folders on the server: delete the copies there');
  const node = h(
    'li',
    { class: 'dup-group', 'data-testid': 'duplicate-group' },
    h('div', { class: 'dup-head' },
      h('span', null, group.exact ? 'Exact copies' : `Near-duplicates · similarity ${group.similarity.toFixed(2)}`),
      button),
    h('div', { class: 'dup-row' }, cards),
  );
  if (deletable) button.addEventListener('click', () => keepSelected(node, group, name, button));
  return node;
}

function card(entry, name, checked) {
  const { image, files } = entry;
  const where = files.map((f) => h('div', { class: 'dup-path', title: f.path }, f.uploaded ? f.path : `${f.path} (server folder)`));
  return h(
    'label',
    { class: 'dup-card', 'data-testid': 'duplicate', 'data-id': image.id },
    h('img', { src: thumbUrl(image, 256), alt: image.name, loading: 'lazy', decoding: 'async' }),
    h('div', { class: 'dup-meta' },
      h('input', { type: 'radio', name, value: image.id, checked, 'aria-label': `Keep ${image.name}` }),
      h('strong', null, `${image.width} × ${image.height}`),
      h('span', null, size(files.reduce((sum, f) => sum + f.size, 0))),
      h('span', null, image.taken_at ? formatDate(image.taken_at) : 'no date'),
      entry.deletable ? null : h('span', { class: 'dup-note' }, 'not deletable here'),
    ),
    where,
  );
}

async function keepSelected(node, group, name, button) {
  const chosen = node.querySelector(`input[name="${name}"]:checked`);
  if (!chosen) return;
  const others = group.images.filter((entry) => String(entry.image.id) !== chosen.value);
  button.disabled = true;
  let deleted = 0;
  const kept = [];
  for (const entry of others) {
    if (!entry.deletable) { kept.push(entry.image.name); continue; }
    try {
      await api(`/api/images/${entry.image.id}`, { method: 'DELETE' });
      deleted += 1;
      node.querySelector(`[data-testid="duplicate"][data-id="${entry.image.id}"]`)?.remove();
    } catch (err) {
      kept.push(entry.image.name);
      if (err.status !== 409) report(err);
    }
  }
  if (kept.length) toast(sentence(`kept ${kept.join(', ')}: in a folder on the server, delete it there`));
  if (deleted) toast(`Deleted ${plural(deleted, 'photo')}`);
  if (!kept.length) node.remove();
  button.disabled = false;
}

onNavClick(document.getElementById('duplicates-link'), () => showDuplicates());
