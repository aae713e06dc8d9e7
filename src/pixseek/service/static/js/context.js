// The context bar above the grid, and the empty states.

import { el, h, icon, plural, sentence } from './dom.js';
import { LANGUAGE_NAMES } from './i18n.js';
import { api } from './api.js';
import { faceImg, thumbUrl } from './pictures.js';
import { showLibrary, view } from './grid.js';
import { isVideoFile, runSearch } from './searchbar.js';
import { peopleChip, personHead, personLabel, showPerson } from './people.js';

const BROAD_WORDS = ['animal', 'person', 'food', 'vehicle', 'building', 'plant'];

function backChip() {
  return h(
    'button',
    { type: 'button', class: 'chip', 'data-testid': 'back-to-library', onclick: () => { el.searchInput.value = ''; showLibrary(); } },
    icon('close'),
    'All photos',
  );
}

/** Relevance or newest first: the search runs again in that order. */
function sortChoice() {
  const select = h('select', { class: 'sort', 'data-testid': 'sort', 'aria-label': 'Order of the results' },
    h('option', { value: 'relevance' }, 'Best match'),
    h('option', { value: 'date' }, 'Newest first'));
  select.value = view.sort === 'date' ? 'date' : 'relevance';
  select.addEventListener('change', () => {
    view.sort = select.value;
    runSearch(view.query, { force: true });
  });
  return select;
}

export function renderContext() {
  const parts = [];
  const count = view.items.length;
  const countText = view.done ? plural(count, 'photo') : `${count.toLocaleString()}+ photos`;
  if (view.mode === 'library') {
    parts.push(h('h1', { class: 'title' }, 'Photos'));
    if (view.total) parts.push(h('span', null, plural(view.total, 'photo')));
  } else if (view.mode === 'search') {
    const r = view.result;
    if (!r) {
      parts.push(h('span', null, view.failed ? `Could not search for “${view.query}”.` : `Searching for “${view.query}”…`));
    } else {
      if (count) parts.push(h('span', { class: 'hint', 'data-testid': 'result-count' }, countText));
      if (r.interpretation && r.interpretation.length) {
        const alts = r.interpretation.map((alt, i) => [
          i ? h('span', null, ' or ') : null,
          h('span', { class: 'term' }, alt.split(' AND ').join(' + ')),
        ]);
        const language = r.language && r.language !== 'en' ? LANGUAGE_NAMES[r.language] || r.language : null;
        parts.push(h('span', { class: 'hint', 'data-testid': 'interpretation', title: 'How pixseek understood your words' },
          language ? `Read as ${language}: ` : 'Understood as ', alts));
      }
      if (r.unknown_words && r.unknown_words.length) {
        parts.push(
          h(
            'span',
            { class: 'hint', 'data-testid': 'unknown-words', title: 'These words are not in pixseek’s vocabulary and were ignored' },
            'Ignored ',
            r.unknown_words.map((w, i) => [i ? ', ' : '', h('span', { class: 'unknown' }, w)]),
          ),
        );
      }
      if (r.description) {
        parts.push(h('span', { class: 'hint', 'data-testid': 'description', title: 'The query as pixseek read it (docs/query-language.md)' },
          `Searched for ${r.description}`));
      }
      for (const note of r.notes || []) parts.push(h('span', { class: 'hint warn', 'data-testid': 'search-note' }, note));
      parts.push(sortChoice());
      if (r.model) {
        parts.push(h('span', { class: 'hint', 'data-testid': 'model', title: 'The vision-language model that read your words too' }, `with ${r.model}`));
      }
      if (typeof r.took_ms === 'number') parts.push(h('span', null, `${Math.round(r.took_ms)} ms`));
    }
  } else if (view.mode === 'people') {
    parts.push(h('h1', { class: 'title' }, 'People'));
    if (view.people.length) parts.push(h('span', { 'data-testid': 'people-count' }, plural(view.people.length, 'person', 'people')));
    if (view.people.length && view.ungrouped) {
      parts.push(h('span', {
        class: 'hint',
        title: 'Someone seen in one photo is not a person yet: they are grouped once a second photo of them arrives.',
      }, `${plural(view.ungrouped, 'face')} not grouped yet`));
    }
  } else if (view.mode === 'person') {
    if (!view.person) {
      parts.push(peopleChip(), h('span', null, view.failed ? 'Could not load this person.' : 'Loading…'));
    } else {
      // Built once per person and kept: re-rendering must not take away a name being typed.
      if (!view.personHead || !el.context.contains(view.personHead)) {
        view.personHead = personHead(view.person);
        el.context.replaceChildren(view.personHead);
      }
      const total = view.total ?? view.person.photos;
      view.personHead.querySelector('[data-testid="person-count"]').textContent = plural(total, 'photo');
      return;
    }
  } else if (view.mode === 'face') {
    const name = view.source.person_name;
    parts.push(faceImg(view.source.thumbnail || `/api/faces/${view.source.id}/thumbnail`, 64, '', 'ctx-thumb round'));
    parts.push(h('h1', { class: 'title' }, name ? `Faces like ${name}` : 'Faces like this one'));
    if (view.result) parts.push(h('span', { 'data-testid': 'result-count' }, countText));
    if (view.source.person_id != null) {
      parts.push(h('button', { type: 'button', class: 'chip', 'data-testid': 'face-person', onclick: () => showPerson(view.source.person_id) },
        icon('people'), name ? `All photos of ${name}` : 'This person’s photos'));
    }
    parts.push(backChip());
  } else {
    const name = view.mode === 'similar' ? view.source.name : view.source.name || 'your photo';
    const thumb = view.mode === 'similar' ? thumbUrl(view.source, 128) : view.sourceUrl;
    const video = view.mode !== 'similar' && view.source instanceof File && isVideoFile(view.source);
    parts.push(video
      ? h('video', { class: 'ctx-thumb', src: thumb, muted: true, preload: 'auto', 'aria-hidden': 'true', 'data-testid': 'ctx-video' })
      : h('img', { class: 'ctx-thumb', src: thumb, alt: '' }));
    parts.push(h('h1', { class: 'title' }, `Like ${name}`));
    if (view.result) parts.push(h('span', null, countText));
    parts.push(backChip());
  }
  el.context.replaceChildren(...parts);
}

/** For a search without results: related words to try, and whether the library is empty anyway. */
export async function loadSuggestions(signal) {
  // "chien → dog, hound": related words are looked up for the English word
  const known = (view.result?.interpretation || []).flatMap((alt) => alt.split(' AND '))
    .map((term) => (term.includes(' → ') ? term.split(' → ')[1].split(', ')[0] : term)).filter(Boolean);
  const quietly = (promise, fallback) => promise.catch((err) => { if (err.name === 'AbortError') throw err; return fallback; });
  const [related, library] = await Promise.all([
    known[0]
      ? quietly(api(`/api/words?${new URLSearchParams({ q: known[0], limit: 8 })}`, { signal, quiet: true }), { words: [] })
      : { words: [] },
    quietly(api('/api/images?offset=0&limit=1', { signal, quiet: true }), null),
  ]);
  const words = (related.words || []).map((w) => w.word).filter((w) => w && !known.includes(w));
  view.suggestions = [...new Set([...words.slice(0, 6), ...BROAD_WORDS])].filter((w) => !known.includes(w)).slice(0, 8);
  view.libraryEmpty = Boolean(library) && library.total === 0;
}

export function renderEmpty() {
  const count = view.mode === 'people' ? view.people.length : view.items.length;
  const show = count === 0 && view.done && !view.loading && !view.failed;
  el.empty.hidden = !show;
  if (!show) return;
  el.empty.className = 'empty';
  if (view.mode === 'library') {
    el.empty.dataset.kind = 'library';
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('photos')),
      h('h2', null, 'No photos yet'),
      h('p', null, 'Drop photos here, or add a whole folder on the server with ', h('code', null, 'pixseek user attach <you> <folder>'), ' and ', h('code', null, 'pixseek index'), '. Then search them by what is in them: “cat”, “beach”, “coffee cup”.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn primary', onclick: () => el.uploadInput.click() }, icon('upload'), 'Upload photos')),
    );
  } else if (view.mode === 'search' && view.libraryEmpty) {
    el.empty.dataset.kind = 'search-empty-library';
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('photos')),
      h('h2', null, `No photos match “${view.query}”`),
      h('p', null, 'Your library is empty. Drop photos here (or attach a server folder with ', h('code', null, 'pixseek user attach'), '), then search again.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn primary', onclick: () => el.uploadInput.click() }, icon('upload'), 'Upload photos')),
    );
  } else if (view.mode === 'search') {
    el.empty.dataset.kind = 'search';
    el.empty.classList.add('plain');
    const r = view.result || {};
    const unknown = r.unknown_words || [];
    const chips = view.suggestions.map((word) =>
      h('li', null, h('button', { type: 'button', class: 'chip', 'data-testid': 'suggestion', onclick: () => { el.searchInput.value = word; runSearch(word); } }, word)));
    let advice;
    if (r.rejected) advice = `${sentence(r.rejected)}. Check the spelling, or try a more common word.`;
    else if (unknown.length) advice = `pixseek doesn’t know the word${unknown.length > 1 ? 's' : ''} ${unknown.map((w) => `“${w}”`).join(', ')}. Check the spelling, or try broader words.`;
    else advice = 'Try broader or fewer words — for example “animal” instead of “beagle”, or one word instead of three.';
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('search')),
      h('h2', null, `No photos match “${view.query}”`),
      h('p', null, advice),
      chips.length ? h('p', { class: 'try' }, 'Try') : null,
      chips.length ? h('ul', { class: 'chips', 'aria-label': 'Try searching for' }, chips) : null,
    );
  } else if (view.mode === 'people') {
    el.empty.dataset.kind = 'people';
    el.empty.classList.add('plain');
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('people')),
      h('h2', null, 'No people yet'),
      h('p', null, view.ungrouped
        ? `pixseek has found ${plural(view.ungrouped, 'face')} so far, but nobody in two photos yet. People appear here once someone is in two photos or more.`
        : 'pixseek finds the faces in your photos and groups them by person once someone is in two photos or more. Add photos of people to see them here.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn primary', onclick: () => el.uploadInput.click() }, icon('upload'), 'Upload photos')),
    );
  } else if (view.mode === 'person') {
    el.empty.dataset.kind = 'person';
    el.empty.classList.add('plain');
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('people')),
      h('h2', null, `No photos of ${personLabel(view.person)}`),
      h('p', null, 'Their photos were deleted, or their faces taken out.'),
      h('div', { class: 'actions' }, peopleChip()),
    );
  } else if (view.mode === 'face') {
    el.empty.dataset.kind = 'face';
    el.empty.classList.add('plain');
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('face')),
      h('h2', null, 'Nobody else looks like this face'),
      h('p', null, 'No other photo in your library has a face close enough to it.'),
      h('div', { class: 'actions' }, backChip()),
    );
  } else {
    el.empty.dataset.kind = 'similar';
    el.empty.classList.add('plain');
    el.empty.replaceChildren(
      h('div', { class: 'empty-icon' }, icon('similar')),
      h('h2', null, 'No similar photos found'),
      h('p', null, 'Nothing in your library looks close enough yet.'),
      h('div', { class: 'actions' }, backChip()),
    );
  }
}
