// Teaching concepts (/api/concepts): select photos in the grid, "Teach: these are …" a name; on a
// search result that a taught concept found, "Not this" marks it a negative and the concept is
// trained again at once (relevance feedback). Works on whatever grid.js shows, without changing it.

import { el, h, icon, plural, sentence } from './dom.js';
import { api, report } from './api.js';
import { toast } from './toast.js';
import { removeItem, view } from './grid.js';
import { runSearch } from './searchbar.js';

const NAME = /^[a-z0-9]+(?:['-][a-z0-9]+)*$/; // search/taught.py check_name
const selected = new Set();
let selecting = false;

const toggle = h('button', {
  type: 'button', class: 'btn teach-toggle', 'data-testid': 'teach-select', 'aria-pressed': 'false',
  onclick: () => setSelecting(!selecting),
}, 'Select');
const nameInput = h('input', {
  type: 'text', placeholder: 'a name, e.g. rex', maxlength: 40, autocapitalize: 'none', spellcheck: 'false',
  'aria-label': 'Concept name', 'data-testid': 'teach-name',
});
const count = h('span', { class: 'teach-count', 'data-testid': 'teach-count' });
const teachButton = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'teach-submit' }, 'Teach');
const bar = h(
  'form',
  { class: 'teach-bar', 'data-testid': 'teach-bar', hidden: true, novalidate: true },
  count,
  h('label', null, 'Teach: these are ', nameInput),
  teachButton,
  h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Stop selecting', onclick: () => setSelecting(false) }, icon('close')),
);
document.querySelector('.topbar')?.append(toggle);
document.body.append(bar);

function setSelecting(on) {
  selecting = on;
  toggle.setAttribute('aria-pressed', String(on));
  toggle.textContent = on ? 'Done' : 'Select';
  if (!on) {
    selected.clear();
    for (const node of el.grid.querySelectorAll('.tile.selected')) node.classList.remove('selected');
  }
  render();
}

function render() {
  bar.hidden = !selecting;
  count.textContent = selected.size ? `${plural(selected.size, 'photo')} selected` : 'Select photos';
  teachButton.disabled = !selected.size;
}

// While selecting, a click on a tile selects it instead of opening it (capture: before grid.js).
el.grid.addEventListener('click', (event) => {
  if (!selecting) return;
  const tile = event.target.closest('.tile');
  if (!tile) return;
  event.stopPropagation();
  event.preventDefault();
  const id = Number(tile.dataset.id);
  if (selected.has(id)) selected.delete(id); else selected.add(id);
  tile.classList.toggle('selected', selected.has(id));
  tile.setAttribute('aria-pressed', String(selected.has(id)));
  render();
}, { capture: true });

bar.addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = nameInput.value.trim().toLowerCase();
  if (!NAME.test(name)) {
    toast('A concept name is one word of letters and digits (hyphens inside allowed).', { kind: 'error' });
    nameInput.focus();
    return;
  }
  teachButton.disabled = true;
  try {
    const concept = await api(`/api/concepts/${encodeURIComponent(name)}/examples`, {
      method: 'POST', json: { images: [...selected] },
    });
    setSelecting(false);
    nameInput.value = '';
    toast(`Taught “${concept.name}” from ${plural(concept.examples, 'example')}.`, {
      action: { label: 'Search it', run: () => { el.searchInput.value = concept.name; runSearch(concept.name, { force: true }); } },
    });
  } catch (err) {
    report(err, 'Could not teach: ');
  } finally {
    render();
  }
});

/** The taught concept that found a result, from its why ("concept: rex 0.83"). */
function conceptOf(tile) {
  const line = (tile.title || '').split('\n').find((w) => w.startsWith('concept: '));
  return line ? line.slice('concept: '.length).split(' ')[0] : null;
}

async function notThis(name, id, imageName) {
  try {
    await api(`/api/concepts/${encodeURIComponent(name)}/not-this`, { method: 'POST', json: { images: [id] } });
    removeItem(id);
    toast(sentence(`${imageName} is not “${name}”: retrained.`));
  } catch (err) {
    report(err, 'Could not retrain: ');
  }
}

// Confirming a result teaches it as one more example: what helps the next page most (after one
// round on the first 10, bench/README.md: 0.215 without feedback, 0.328 with the right ones added).
async function thisToo(name, id, imageName, button) {
  try {
    const concept = await api(`/api/concepts/${encodeURIComponent(name)}/examples`, { method: 'POST', json: { images: [id] } });
    button.remove();
    toast(sentence(`${imageName} is “${name}” too: retrained from ${plural(concept.examples, 'example')}.`), {
      action: { label: 'Search again', run: () => runSearch(el.searchInput.value, { force: true }) },
    });
  } catch (err) {
    report(err, 'Could not retrain: ');
  }
}

// Search results found by a taught concept get "This too" and "Not this" buttons.
function decorate(li) {
  const tile = li.querySelector('.tile');
  if (!tile || view.mode !== 'search' || li.querySelector('.not-this')) return;
  const name = conceptOf(tile);
  if (!name) return;
  const confirm = h('button', {
    type: 'button', class: 'tile-action this-too', 'data-testid': 'this-too',
    title: `This is ${name} too`, 'aria-label': `${tile.dataset.name}: ${name} too, retrain`,
    onclick: () => thisToo(name, Number(tile.dataset.id), tile.dataset.name, confirm),
  }, icon('check'));
  li.append(confirm, h('button', {
    type: 'button', class: 'tile-action not-this', 'data-testid': 'not-this',
    title: `Not ${name}`, 'aria-label': `${tile.dataset.name}: not ${name}, retrain`,
    onclick: () => notThis(name, Number(tile.dataset.id), tile.dataset.name),
  }, icon('close')));
}
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) if (node.nodeName === 'LI') decorate(node);
}).observe(el.grid, { childList: true });
render();
