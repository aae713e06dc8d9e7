// The photo grid: one "view" at a time (library, text search, similar to a photo, by a dropped
// photo, people, one person's photos, photos with a face like one face), and loading its pages.

import { el, h, icon } from './dom.js';
import { api, report } from './api.js';
import { altText, thumbUrl } from './pictures.js';
import { loadSuggestions, renderContext, renderEmpty } from './context.js';
import { labelNotThem, personCard, removeFromPerson, setPerson } from './people.js';
import { closeViewer, openViewer } from './photo.js';

// The nav link of each view that has one: it is marked the current page while its view is shown.
const NAV_LINKS = { people: 'people-link', person: 'people-link', places: 'places-link', duplicates: 'duplicates-link' };

const PAGE_LIBRARY = 48; // /api/images limit (server max 200); 48 fills rows of 2, 3, 4, 6 and 8
const PAGE_SEARCH = 48; // /api/search limit per page
const PAGE_SIMILAR = 48; // similar / by-image: no offset in the API, so "more" asks for a larger limit
const PAGE_PERSON = 48; // a person's photos, /api/people/{id} limit
const PAGE_FACES = 48; // /api/faces/{id}/similar limit per page
const MAX_LIMIT = 200;

export const view = {
  mode: 'library', // 'library' | 'search' | 'similar' | 'image' | 'people' | 'person' | 'face'
  items: [], // [{image, score?, why?, faces?}]
  ids: new Set(),
  total: null, // library only
  offset: 0, // results received from the server (search paging)
  limit: 0, // similar / by-image: the limit of the last request
  done: false,
  loading: false,
  failed: false,
  ctrl: new AbortController(),
  query: '',
  result: null, // the last SearchResult
  source: null, // similar: the Image; image: the File; face: the Face
  sourceUrl: '',
  suggestions: [],
  libraryEmpty: false, // a search without results: the library has no photos at all
  people: [], // people: [Person]
  ungrouped: 0, // people: faces not grouped yet
  personId: null, // person: whose photos
  person: null, // person: the Person, once loaded
  personHead: null, // person: the header node (kept across renders: it may hold a name being typed)
};

/** Modes whose grid loads more as you scroll (the others have a "Show more results" button). */
const scrolls = (mode) => mode === 'library' || mode === 'person';

export function resetView(mode = 'library') {
  view.ctrl.abort();
  view.ctrl = new AbortController();
  if (view.sourceUrl) URL.revokeObjectURL(view.sourceUrl);
  Object.assign(view, {
    mode, items: [], ids: new Set(), total: null, offset: 0, limit: 0, done: false, loading: false, failed: false,
    query: '', result: null, source: null, sourceUrl: '', suggestions: [], libraryEmpty: false,
    people: [], ungrouped: 0, personId: null, person: null, personHead: null,
  });
  el.grid.replaceChildren();
  el.peopleGrid.replaceChildren();
  el.peopleGrid.hidden = mode !== 'people';
  el.grid.hidden = mode === 'people';
  for (const id of new Set(Object.values(NAV_LINKS))) document.getElementById(id)?.removeAttribute('aria-current');
  document.getElementById(NAV_LINKS[mode])?.setAttribute('aria-current', 'page');
  el.empty.hidden = true;
  el.more.hidden = true;
  return view.ctrl.signal;
}

// A view of its own that loads once (places, duplicates): the viewer closed, the URL, the page's
// title and its heading set, the grid emptied; the signal of its requests.
export function openPage(mode, title, status, fromUrl) {
  closeViewer();
  if (!fromUrl) setUrl({ view: mode }, view.mode !== mode);
  el.searchInput.value = '';
  const signal = resetView(mode);
  view.done = true; // nothing for the grid's infinite scroll to load
  document.title = `${title} · pixseek`;
  pageStatus(title, status);
  return signal;
}

export function pageStatus(title, text) {
  el.context.replaceChildren(h('h1', { class: 'title' }, title), h('span', null, text));
}

// A nav link opens its view in place; a click that asks for a new tab or window is the browser's.
export function onNavClick(link, show) {
  link?.addEventListener('click', (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button) return;
    event.preventDefault();
    show();
  });
}

export function setUrl(params, push = false) {
  const url = new URL(location.href);
  url.search = new URLSearchParams(params).toString();
  if (url.href === location.href) return;
  history[push ? 'pushState' : 'replaceState'](null, '', url);
}

function tile(item) {
  const { image } = item;
  const img = h('img', {
    alt: altText(item),
    loading: 'lazy',
    decoding: 'async',
    width: 256,
    height: 256,
    sizes: '(max-width: 720px) 34vw, 220px',
    srcset: `${thumbUrl(image, 256)} 256w, ${thumbUrl(image, 512)} 512w`,
    src: thumbUrl(image, 256),
  });
  img.addEventListener('load', () => img.classList.add('loaded'), { once: true });
  img.addEventListener('error', () => img.classList.add('loaded', 'broken'), { once: true });
  const why = item.why || [];
  const title = [image.name, ...why].join('\n');
  // A person's photos: each can be taken out of the person ("this is not them").
  const notThem = view.mode === 'person' && item.faces && item.faces.length
    ? labelNotThem(h('button', {
      type: 'button',
      class: 'tile-action',
      'data-testid': 'remove-face',
      onclick: () => removeFromPerson(view.personId, item.faces.map((f) => f.id), image.id),
    }, icon('close')), image.name)
    : null;
  return h(
    'li',
    null,
    h(
      'button',
      { type: 'button', class: 'tile', 'data-testid': 'tile', 'data-id': image.id, 'data-name': image.name, title },
      img,
      // A frame of a video: a badge with its time, so a page of hits tells clips from photos.
      image.video ? h('span', { class: 'tile-badge', 'data-testid': 'video-badge', 'aria-hidden': 'true' }, icon('play'), image.video.at) : null,
      h('span', { class: 'tile-caption', 'aria-hidden': 'true' }, h('b', null, image.name), why.join(' · ')),
    ),
    notThem,
  );
}

/** Add items (skipping ids already shown) at the end, or at the start with `prepend`. */
export function addItems(items, { prepend = false } = {}) {
  const fresh = items.filter((item) => item && item.image && !view.ids.has(item.image.id));
  if (!fresh.length) return 0;
  const fragment = document.createDocumentFragment();
  for (const item of fresh) {
    view.ids.add(item.image.id);
    const node = tile(item);
    if (prepend) node.firstElementChild.classList.add('fresh');
    fragment.append(node);
  }
  if (prepend) {
    view.items.unshift(...fresh);
    el.grid.prepend(fragment);
  } else {
    view.items.push(...fresh);
    el.grid.append(fragment);
  }
  return fresh.length;
}

export function removeItem(id) {
  const index = view.items.findIndex((item) => item.image.id === id);
  if (index < 0) return;
  view.items.splice(index, 1);
  view.ids.delete(id);
  el.grid.querySelector(`.tile[data-id="${CSS.escape(String(id))}"]`)?.parentElement.remove();
  if (view.total != null) view.total = Math.max(0, view.total - 1);
  renderContext();
  renderEmpty();
}

export function tileNode(id) {
  return el.grid.querySelector(`.tile[data-id="${CSS.escape(String(id))}"]`);
}

el.grid.addEventListener('click', (event) => {
  const button = event.target.closest('.tile');
  if (!button) return;
  const index = view.items.findIndex((item) => String(item.image.id) === button.dataset.id);
  if (index >= 0) openViewer(view.items, index);
});

// ---- loading pages -----------------------------------------------------------------------

export async function loadPage() {
  if (view.loading || view.done) return;
  const signal = view.ctrl.signal;
  const mode = view.mode;
  view.loading = true;
  el.grid.setAttribute('aria-busy', 'true');
  renderMore();
  try {
    if (mode === 'library') {
      const data = await api(`/api/images?offset=${view.items.length}&limit=${PAGE_LIBRARY}`, { signal });
      view.total = data.total;
      addItems((data.images || []).map((image) => ({ image })));
      view.done = !data.images || data.images.length < PAGE_LIBRARY || view.items.length >= data.total;
    } else if (mode === 'search') {
      const params = new URLSearchParams({ q: view.query, limit: PAGE_SEARCH, offset: view.offset });
      if (view.sort === 'date') params.set('sort', 'date');
      let result;
      try {
        result = await api(`/api/search?${params}`, { signal });
      } catch (err) {
        // A query the server cannot use (e.g. only unknown words) is a search without results,
        // explained in place: while typing, a toast per pause would be noise.
        if (err.status !== 400 && err.status !== 422) throw err;
        result = { query: view.query, interpretation: [], unknown_words: [], results: [], rejected: err.message };
      }
      view.result = result;
      view.offset += result.results.length;
      addItems(result.results);
      view.done = result.results.length < PAGE_SEARCH;
      if (!view.items.length) await loadSuggestions(signal);
    } else if (mode === 'people') {
      const data = await api('/api/people', { signal });
      view.people = data.people || [];
      view.ungrouped = data.ungrouped_faces || 0;
      el.peopleGrid.replaceChildren(...view.people.map(personCard));
      view.done = true;
    } else if (mode === 'person') {
      const data = await api(`/api/people/${view.personId}?offset=${view.items.length}&limit=${PAGE_PERSON}`, { signal });
      setPerson(data.person);
      view.total = data.total;
      addItems((data.photos || []).map((photo) => ({ image: photo.image, faces: photo.faces })));
      view.done = !data.photos || data.photos.length < PAGE_PERSON || view.items.length >= data.total;
    } else if (mode === 'face') {
      const params = new URLSearchParams({ limit: PAGE_FACES, offset: view.offset });
      const result = await api(`/api/faces/${view.source.id}/similar?${params}`, { signal });
      const asked = result.query_face || {};
      view.result = result;
      view.source = { ...view.source, person_id: asked.person_id, person_name: asked.person_name };
      view.offset += result.results.length;
      addItems(result.results);
      view.done = result.results.length < PAGE_FACES;
    } else {
      const limit = Math.min(MAX_LIMIT, view.limit + PAGE_SIMILAR);
      let result;
      if (mode === 'similar') {
        result = await api(`/api/images/${view.source.id}/similar?limit=${limit}`, { signal });
      } else {
        const form = new FormData();
        form.append('file', view.source, view.source.name || 'photo');
        form.append('limit', String(limit));
        result = await api(`/api/search/by-image?limit=${limit}`, { method: 'POST', form, signal });
      }
      view.result = result;
      view.limit = limit;
      addItems(result.results);
      view.done = result.results.length < limit || limit >= MAX_LIMIT;
    }
  } catch (err) {
    if (signal.aborted) return;
    view.failed = true;
    view.done = true;
    report(err);
  } finally {
    if (!signal.aborted) {
      view.loading = false;
      el.grid.removeAttribute('aria-busy');
      renderContext();
      renderEmpty();
      renderMore();
    }
  }
  if (!signal.aborted && scrolls(view.mode)) fillViewport();
}

/** Library, a person: keep loading while the end of the grid is (nearly) on screen. */
function fillViewport() {
  requestAnimationFrame(() => {
    if (!scrolls(view.mode) || view.done || view.loading || el.appView.hidden) return;
    if (el.sentinel.getBoundingClientRect().top < window.innerHeight + 800) loadPage();
  });
}

new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting) && scrolls(view.mode)) loadPage();
  },
  { rootMargin: '0px 0px 800px 0px' },
).observe(el.sentinel);

el.loadMore.addEventListener('click', () => loadPage());

function renderMore() {
  const paged = !scrolls(view.mode) && view.mode !== 'people';
  el.more.hidden = !paged || view.done || view.items.length === 0;
  el.loadMore.disabled = view.loading;
  el.loadMore.textContent = view.loading ? 'Loading…' : 'Show more results';
}

export async function showLibrary({ fromUrl = false } = {}) {
  if (!fromUrl) setUrl({}, view.mode !== 'library');
  resetView('library');
  document.title = 'Photos · pixseek';
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}
