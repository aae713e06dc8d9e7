// pixseek web UI: plain ES module, no build step, no dependencies. Talks to the HTTP API in docs/http-api.md.

const PAGE_LIBRARY = 48; // /api/images limit (server max 200); 48 fills rows of 2, 3, 4, 6 and 8
const PAGE_SEARCH = 48; // /api/search limit per page
const PAGE_SIMILAR = 48; // similar / by-image: no offset in the API, so "more" asks for a larger limit
const PAGE_PERSON = 48; // a person's photos, /api/people/{id} limit
const PAGE_FACES = 48; // /api/faces/{id}/similar limit per page
const LANGUAGE_NAMES = { fr: 'French', de: 'German', es: 'Spanish', it: 'Italian', pt: 'Portuguese', nl: 'Dutch' };
/** Tags are named in the browser's language when pixseek has its dictionary. */
const TAG_LANGUAGE = (navigator.languages || [navigator.language || 'en'])
  .map((l) => String(l).slice(0, 2).toLowerCase()).find((l) => l === 'en' || l in LANGUAGE_NAMES) || 'en';
const FACE_BOXES_KEY = 'pixseek.faceBoxes'; // localStorage: '0' hides the face boxes in the photo view
const MAX_LIMIT = 200;
const DEBOUNCE_MS = 250;
const UPLOAD_CONCURRENCY = 2;
const BROAD_WORDS = ['animal', 'person', 'food', 'vehicle', 'building', 'plant'];
const WEB_FORMATS = new Set(['JPEG', 'JPG', 'PNG', 'WEBP', 'GIF', 'BMP', 'AVIF']);
const SVG_NS = 'http://www.w3.org/2000/svg';
// Sent on every API request: the server refuses cookie-authenticated writes without it (CSRF check).
const CSRF = ['X-Requested-With', 'pixseek'];

const $ = (id) => document.getElementById(id);
const el = {
  loading: document.querySelector('[data-testid="loading"]'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  loginUser: $('login-username'),
  loginPass: $('login-password'),
  loginError: $('login-error'),
  appView: $('app-view'),
  homeLink: $('home-link'),
  searchForm: $('search-form'),
  searchInput: $('search-input'),
  searchImageBtn: $('search-image-btn'),
  searchImageInput: $('search-image-input'),
  uploadBtn: $('upload-btn'),
  uploadInput: $('upload-input'),
  userName: $('user-name'),
  userAvatar: $('user-avatar'),
  logoutBtn: $('logout-btn'),
  peopleLink: $('people-link'),
  context: $('context-bar'),
  peopleGrid: $('people-grid'),
  grid: $('grid'),
  empty: $('empty-state'),
  more: $('more'),
  loadMore: $('load-more'),
  sentinel: $('sentinel'),
  viewer: $('viewer'),
  viewerImg: $('viewer-img'),
  viewerSpinner: $('viewer-spinner'),
  viewerClose: $('viewer-close'),
  viewerPrev: $('viewer-prev'),
  viewerNext: $('viewer-next'),
  viewerTitle: $('viewer-title'),
  viewerSubtitle: $('viewer-subtitle'),
  viewerWhySection: $('viewer-why-section'),
  viewerWhy: $('viewer-why'),
  viewerTextSection: $('viewer-text-section'),
  viewerText: $('viewer-text'),
  viewerTags: $('viewer-tags'),
  viewerMeta: $('viewer-meta'),
  viewerOriginal: $('viewer-original'),
  viewerDelete: $('viewer-delete'),
  viewerFaces: $('viewer-faces'),
  viewerPeopleSection: $('viewer-people-section'),
  viewerPeople: $('viewer-people'),
  faceLayer: $('face-layer'),
  faceMenu: $('face-menu'),
  moreLikeThis: $('more-like-this'),
  mergeDialog: $('merge-dialog'),
  mergeForm: $('merge-form'),
  mergeTitle: $('merge-title'),
  mergeList: $('merge-list'),
  mergeSubmit: $('merge-submit'),
  mergeCancel: $('merge-cancel'),
  dropZone: $('drop-zone'),
  uploads: $('uploads'),
  uploadsTitle: $('uploads-title'),
  uploadsList: $('uploads-list'),
  uploadsClose: $('uploads-close'),
  toasts: $('toasts'),
};

// ------------------------------------------------------------------------------------------
// Small DOM helpers

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function icon(name, cls) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('aria-hidden', 'true');
  if (cls) svg.setAttribute('class', cls);
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sentence = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text); // server messages are lower case
const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  return new Intl.DateTimeFormat(undefined, dateOnly ? { dateStyle: 'medium' } : { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

// ------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The human message of an error answer: `detail` (a string, or FastAPI's list of validation errors). */
function detailText(body, status, statusText) {
  const detail = body && typeof body === 'object' ? body.detail : null;
  if (typeof detail === 'string' && detail) return sentence(detail);
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((d) => {
        if (!d || typeof d !== 'object') return String(d);
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => !['body', 'query', 'path'].includes(p)).join('.') : '';
        return where ? `${where}: ${d.msg}` : d.msg;
      })
      .join('; ');
  }
  if (status === 413) return 'The upload is too large for the server.';
  if (status >= 500) return `The server had a problem (${status}). Try again, or check the server log.`;
  return `Request failed (${status}${statusText ? ` ${statusText}` : ''}).`;
}

let busyCount = 0;
function busy(delta) {
  busyCount = Math.max(0, busyCount + delta);
  el.loading.hidden = busyCount === 0;
}

/** fetch() a JSON API route. Throws ApiError with the server's `detail`; AbortError passes through. */
async function api(path, { method = 'GET', json, form, signal, quiet = false, auth = true } = {}) {
  const init = { method, signal, credentials: 'same-origin', headers: { Accept: 'application/json', [CSRF[0]]: CSRF[1] } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  if (!quiet) busy(1);
  try {
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'Cannot reach the pixseek server. Is it still running?');
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 401 && auth) onUnauthorized();
      throw new ApiError(response.status, detailText(body, response.status, response.statusText));
    }
    return body;
  } finally {
    if (!quiet) busy(-1);
  }
}

function report(err, prefix = '') {
  if (!err || err.name === 'AbortError') return;
  if (err.status === 401) return; // the sign-in form is already showing
  console.error(err);
  toast(`${prefix}${err.message || err}`, { kind: 'error' });
}

const withSize = (url, size) => `${url}${url.includes('?') ? '&' : '?'}size=${size}`;

function thumbUrl(image, size) {
  return withSize(image.thumbnail || `/api/images/${image.id}/thumbnail`, size);
}

/** A round face picture: `size` px shown (64 or 128), twice that for sharp screens. */
function faceImg(url, size, alt = '', cls = '') {
  return h('img', {
    class: cls || null, src: withSize(url, size), srcset: `${withSize(url, size * 2)} 2x`, alt,
    width: size, height: size, loading: 'lazy', decoding: 'async',
  });
}

/** The classifier label a search "why" line names first, e.g. "cat: tabby 0.71, ..." -> "tabby". */
function whyTag(why) {
  for (const line of why || []) {
    // words read in the picture ("invoice: in its text 0.80", "text: [Invoice] ...") name no tag
    if (/^[^:]+: in its text \d/.test(line) || (line.startsWith('text: ') && line.includes('['))) continue;
    const m = /^[^:]+:\s*(.+?)\s+\d(?:\.\d+)?(?:,|$)/.exec(line);
    if (m) return m[1];
  }
  return '';
}

function topTag(item) {
  const tags = item.image.tags;
  if (Array.isArray(tags) && tags.length) return tags[0].name;
  return whyTag(item.why);
}

function altText(item) {
  const tag = topTag(item);
  return tag ? `${item.image.name}, ${tag}` : item.image.name;
}

// ------------------------------------------------------------------------------------------
// Toasts

function toast(message, { kind = 'info', timeout, action } = {}) {
  const isError = kind === 'error';
  const node = h(
    'div',
    { class: `toast ${kind}`, role: isError ? 'alert' : 'status', 'data-testid': isError ? 'error-toast' : 'toast' },
    icon(isError ? 'alert' : 'check', 'kind'),
    h('span', { class: 'msg' }, message),
  );
  if (action) {
    node.append(h('button', { type: 'button', class: 'btn', onclick: () => { action.run(); dismiss(); } }, action.label));
  }
  const close = h('button', { type: 'button', class: 'icon-btn small', 'aria-label': 'Dismiss' }, icon('close'));
  node.append(close);
  let timer = 0;
  function dismiss() {
    clearTimeout(timer);
    node.classList.add('leaving');
    setTimeout(() => node.remove(), 200);
  }
  close.addEventListener('click', dismiss);
  const ms = timeout ?? (isError ? 9000 : 4000);
  const arm = () => { timer = setTimeout(dismiss, ms); };
  node.addEventListener('mouseenter', () => clearTimeout(timer));
  node.addEventListener('mouseleave', arm);
  arm();
  while (el.toasts.children.length >= 3) el.toasts.firstElementChild.remove();
  el.toasts.append(node);
  return dismiss;
}

// ------------------------------------------------------------------------------------------
// Session

const session = { me: null, unauthorizedShown: false };

async function boot() {
  try {
    session.me = await api('/api/me', { auth: false });
  } catch (err) {
    if (err.status === 401) return showLogin();
    showLogin();
    report(err);
    return;
  }
  showApp();
}

function showLogin(message = '') {
  resetView();
  closeViewer();
  session.me = null;
  el.appView.hidden = true;
  el.loginView.hidden = false;
  el.loginError.hidden = !message;
  el.loginError.textContent = message;
  el.loginPass.value = '';
  document.title = 'Sign in · pixseek';
  (el.loginUser.value ? el.loginPass : el.loginUser).focus();
}

function showApp() {
  session.unauthorizedShown = false;
  el.loginView.hidden = true;
  el.appView.hidden = false;
  const name = session.me.name || '';
  el.userName.textContent = name;
  el.userAvatar.textContent = name.slice(0, 1);
  el.userAvatar.title = name;
  el.logoutBtn.hidden = Boolean(session.me.single_user);
  route();
}

function onUnauthorized() {
  if (el.appView.hidden || session.unauthorizedShown) return;
  session.unauthorizedShown = true;
  showLogin('Your session has ended. Please sign in again.');
}

el.loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = el.loginUser.value.trim();
  const password = el.loginPass.value;
  if (!username || !password) {
    el.loginError.textContent = 'Enter your username and password.';
    el.loginError.hidden = false;
    (username ? el.loginPass : el.loginUser).focus();
    return;
  }
  const submit = el.loginForm.querySelector('button[type="submit"]');
  submit.disabled = true;
  el.loginError.hidden = true;
  try {
    await api('/api/login', { method: 'POST', json: { username, password }, auth: false });
    await boot();
  } catch (err) {
    el.loginError.textContent = err.status === 401 ? err.message || 'Wrong username or password.' : err.message;
    el.loginError.hidden = false;
    el.loginPass.select();
  } finally {
    submit.disabled = false;
  }
});

el.logoutBtn.addEventListener('click', async () => {
  try {
    await api('/api/logout', { method: 'POST', auth: false });
  } catch (err) {
    report(err);
  }
  history.replaceState(null, '', location.pathname);
  el.searchInput.value = '';
  clearUploads(true);
  viewer.details.clear();
  showLogin();
});

// ------------------------------------------------------------------------------------------
// The photo grid: one "view" at a time (library, text search, similar to a photo, by a dropped
// photo, people, one person's photos, photos with a face like one face)

const view = {
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

function resetView(mode = 'library') {
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
  if (mode === 'people' || mode === 'person') el.peopleLink.setAttribute('aria-current', 'page');
  else el.peopleLink.removeAttribute('aria-current');
  el.empty.hidden = true;
  el.more.hidden = true;
  return view.ctrl.signal;
}

function setUrl(params, push = false) {
  const url = new URL(location.href);
  url.search = new URLSearchParams(params).toString();
  if (url.href === location.href) return;
  history[push ? 'pushState' : 'replaceState'](null, '', url);
}

function route() {
  const params = new URLSearchParams(location.search);
  const q = params.get('q');
  const similar = params.get('similar');
  const person = params.get('person');
  const face = params.get('face');
  if (params.get('view') === 'people') {
    showPeople({ fromUrl: true });
  } else if (person && /^\d+$/.test(person)) {
    showPerson(Number(person), { fromUrl: true });
  } else if (face && /^\d+$/.test(face)) {
    showFaceSearch({ id: Number(face), thumbnail: `/api/faces/${face}/thumbnail` }, { fromUrl: true });
  } else if (q) {
    el.searchInput.value = q;
    runSearch(q, { force: true, fromUrl: true });
  } else if (similar && /^\d+$/.test(similar)) {
    el.searchInput.value = '';
    api(`/api/images/${similar}`)
      .then((image) => showSimilar(image, { fromUrl: true }))
      .catch((err) => { report(err); showLibrary(); });
  } else {
    el.searchInput.value = '';
    showLibrary({ fromUrl: true });
  }
}
window.addEventListener('popstate', () => { if (session.me) route(); });

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
      h('span', { class: 'tile-caption', 'aria-hidden': 'true' }, h('b', null, image.name), why.join(' · ')),
    ),
    notThem,
  );
}

/** Add items (skipping ids already shown) at the end, or at the start with `prepend`. */
function addItems(items, { prepend = false } = {}) {
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

function removeItem(id) {
  const index = view.items.findIndex((item) => item.image.id === id);
  if (index < 0) return;
  view.items.splice(index, 1);
  view.ids.delete(id);
  el.grid.querySelector(`.tile[data-id="${CSS.escape(String(id))}"]`)?.parentElement.remove();
  if (view.total != null) view.total = Math.max(0, view.total - 1);
  renderContext();
  renderEmpty();
}

function tileNode(id) {
  return el.grid.querySelector(`.tile[data-id="${CSS.escape(String(id))}"]`);
}

el.grid.addEventListener('click', (event) => {
  const button = event.target.closest('.tile');
  if (!button) return;
  const index = view.items.findIndex((item) => String(item.image.id) === button.dataset.id);
  if (index >= 0) openViewer(view.items, index);
});

// ---- loading pages -----------------------------------------------------------------------

async function loadPage() {
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

async function showLibrary({ fromUrl = false } = {}) {
  if (!fromUrl) setUrl({}, view.mode !== 'library');
  resetView('library');
  document.title = 'Photos · pixseek';
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

async function runSearch(text, { force = false, fromUrl = false } = {}) {
  const q = text.trim().replace(/\s+/g, ' ');
  if (!q) {
    if (view.mode === 'search') showLibrary();
    return;
  }
  if (!force && view.mode === 'search' && view.query === q && !view.failed) return;
  if (!fromUrl) setUrl({ q }, view.mode !== 'search');
  resetView('search');
  view.query = q;
  document.title = `${q} · pixseek`;
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

async function showSimilar(image, { fromUrl = false } = {}) {
  closeViewer();
  if (!fromUrl) setUrl({ similar: image.id }, true);
  el.searchInput.value = '';
  resetView('similar');
  view.source = image;
  document.title = `Like ${image.name} · pixseek`;
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

function isImageFile(file) {
  return (file.type || '').startsWith('image/') || /\.(jpe?g|png|gif|webp|bmp|tiff?|heic|heif|avif)$/i.test(file.name || '');
}

async function searchByImage(file) {
  if (!file) return;
  if (!isImageFile(file)) {
    toast(`“${file.name}” is not a picture. Drop a JPEG, PNG, WebP or HEIC file to search by it.`, { kind: 'error' });
    return;
  }
  closeViewer();
  setUrl({}, true);
  el.searchInput.value = '';
  resetView('image');
  view.source = file;
  view.sourceUrl = URL.createObjectURL(file);
  document.title = 'Search by photo · pixseek';
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

// ---- context bar and empty states ---------------------------------------------------------

function backChip() {
  return h(
    'button',
    { type: 'button', class: 'chip', 'data-testid': 'back-to-library', onclick: () => { el.searchInput.value = ''; showLibrary(); } },
    icon('close'),
    'All photos',
  );
}

function renderContext() {
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
    parts.push(h('img', { class: 'ctx-thumb', src: thumb, alt: '' }));
    parts.push(h('h1', { class: 'title' }, `Like ${name}`));
    if (view.result) parts.push(h('span', null, countText));
    parts.push(backChip());
  }
  el.context.replaceChildren(...parts);
}

/** For a search without results: related words to try, and whether the library is empty anyway. */
async function loadSuggestions(signal) {
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

function renderEmpty() {
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

// ------------------------------------------------------------------------------------------
// Search box

let debounceTimer = 0;
el.searchInput.addEventListener('input', () => {
  clearTimeout(debounceTimer);
  debounceTimer = setTimeout(() => runSearch(el.searchInput.value), DEBOUNCE_MS);
});
el.searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  clearTimeout(debounceTimer);
  runSearch(el.searchInput.value);
  if (matchMedia('(pointer: coarse)').matches) el.searchInput.blur();
});
el.homeLink.addEventListener('click', (event) => {
  event.preventDefault();
  el.searchInput.value = '';
  showLibrary();
});
document.addEventListener('keydown', (event) => {
  if (el.appView.hidden || el.viewer.open) return;
  const typing = event.target.closest?.('input, textarea, [contenteditable]');
  if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    el.searchInput.focus();
    el.searchInput.select();
  }
});
el.searchImageBtn.addEventListener('click', () => el.searchImageInput.click());
el.searchImageInput.addEventListener('change', () => {
  const file = el.searchImageInput.files[0];
  el.searchImageInput.value = '';
  searchByImage(file);
});
window.addEventListener('scroll', () => {
  document.querySelector('.topbar').classList.toggle('scrolled', window.scrollY > 4);
}, { passive: true });

// ------------------------------------------------------------------------------------------
// People: faces grouped by person. The People page, one person's photos, photos with a face like one.

const personName = (person) => (person && person.name) || '';
const personLabel = (person) => personName(person) || 'this person';

/** The "not them" button of a photo in a person's photos, named after the person shown. */
function labelNotThem(button, imageName) {
  button.title = `Not ${personLabel(view.person)}`;
  button.setAttribute('aria-label', `${imageName}: not ${personLabel(view.person)}, remove from this person`);
  return button;
}

/** Names and faces changed: photo details cached with the old names must be fetched again. */
function peopleChanged() {
  viewer.details.clear();
}

function peopleChip() {
  return h(
    'button',
    { type: 'button', class: 'chip', 'data-testid': 'back-to-people', onclick: () => showPeople() },
    icon('left'),
    'People',
  );
}

async function showPeople({ fromUrl = false } = {}) {
  closeViewer();
  if (!fromUrl) setUrl({ view: 'people' }, view.mode !== 'people');
  el.searchInput.value = '';
  resetView('people');
  document.title = 'People · pixseek';
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

async function showPerson(id, { fromUrl = false, person = null, editName = false } = {}) {
  closeViewer();
  if (!fromUrl) setUrl({ person: id }, view.mode !== 'person' || view.personId !== id);
  el.searchInput.value = '';
  resetView('person');
  view.personId = id;
  if (person) setPerson(person);
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
  if (editName && view.personHead) view.personHead.querySelector('[data-testid="person-name"]')?.click();
}

/** The person shown changed (loaded, renamed, merged): their header is built again if it shows them differently. */
function setPerson(person) {
  const old = view.person;
  if (!old || old.id !== person.id || old.name !== person.name || old.cover_face_id !== person.cover_face_id) view.personHead = null;
  view.person = person;
  document.title = `${person.name || 'Unnamed person'} · pixseek`;
}

function personCard(person) {
  const label = () => `${person.name || 'Unnamed person'}, ${plural(person.photos, 'photo')}`;
  return h(
    'li',
    { class: 'person-card', 'data-testid': 'person', 'data-id': person.id, 'data-name': person.name || '' },
    h(
      'button',
      {
        type: 'button',
        class: 'person-face',
        'data-testid': 'person-open',
        'aria-label': label(),
        onclick: () => showPerson(person.id, { person }),
      },
      person.thumbnail ? faceImg(person.thumbnail, 128, '') : icon('people'),
    ),
    nameEditor(person, {
      onSaved: () => {
        const card = el.peopleGrid.querySelector(`[data-testid="person"][data-id="${person.id}"]`);
        if (!card) return;
        card.dataset.name = person.name || '';
        card.querySelector('[data-testid="person-open"]').setAttribute('aria-label', label());
      },
    }),
    h('span', { class: 'person-count' }, plural(person.photos, 'photo')),
  );
}

function personHead(person) {
  return h(
    'div',
    { class: 'person-bar' },
    peopleChip(),
    person.thumbnail ? faceImg(person.thumbnail, 128, '', 'person-avatar') : null,
    nameEditor(person, {
      heading: true,
      onSaved: (updated) => {
        setPerson(updated);
        renderContext();
        for (const button of el.grid.querySelectorAll('[data-testid="remove-face"]')) {
          labelNotThem(button, button.closest('li').querySelector('.tile').dataset.name);
        }
      },
    }),
    h('span', { class: 'person-count', 'data-testid': 'person-count' }),
    h('button', { type: 'button', class: 'chip', 'data-testid': 'merge-open', onclick: openMerge }, icon('merge'), 'Merge with…'),
  );
}

/** A person's name, or "Add a name": a click turns it into a field; Enter or leaving it saves, Esc cancels. */
function nameEditor(person, { heading = false, onSaved } = {}) {
  const wrap = h('div', { class: `name-editor${heading ? ' heading' : ''}` });
  const focusButton = () => wrap.querySelector('button')?.focus();

  function show() {
    const named = Boolean(person.name);
    const button = h(
      'button',
      {
        type: 'button',
        class: `person-name${named ? '' : ' unnamed'}`,
        'data-testid': 'person-name',
        title: named ? `Rename ${person.name}` : 'Add a name',
        'aria-label': named ? `${person.name}. Rename` : 'Add a name for this person',
        onclick: edit,
      },
      h('span', { class: 'name-text' }, named ? person.name : 'Add a name'),
      icon('edit', 'edit-icon'),
    );
    wrap.replaceChildren(heading ? h('h1', { class: 'title' }, button) : button);
  }

  function edit() {
    const input = h('input', {
      type: 'text',
      value: person.name || '',
      maxlength: 100,
      placeholder: 'Name',
      'aria-label': 'Name of this person',
      'data-testid': 'person-name-input',
      autocomplete: 'off',
      spellcheck: 'false',
      enterkeyhint: 'done',
    });
    const form = h('form', { class: 'name-form', 'data-testid': 'person-name-form' }, input);
    let settled = false;
    async function save() {
      if (settled) return;
      settled = true;
      const name = input.value.trim().replace(/\s+/g, ' ');
      if (name === (person.name || '')) {
        show();
        focusButton();
        return;
      }
      input.disabled = true;
      try {
        const updated = await api(`/api/people/${person.id}`, { method: 'PATCH', json: { name: name || null } });
        Object.assign(person, updated);
        peopleChanged();
        const named = updated.name;
        toast(named ? `Named ${named}` : 'Name removed', named ? {
          action: { label: `Search “${named}”`, run: () => { el.searchInput.value = named; runSearch(named); } },
        } : {});
        onSaved?.(updated);
      } catch (err) {
        report(err);
      }
      if (wrap.isConnected) {
        show();
        focusButton();
      }
    }
    form.addEventListener('submit', (event) => { event.preventDefault(); save(); });
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      event.stopPropagation();
      settled = true;
      show();
      focusButton();
    });
    input.addEventListener('blur', () => save());
    wrap.replaceChildren(form);
    input.focus();
    input.select();
  }

  show();
  return wrap;
}

// ---- merging, and taking faces out of a person --------------------------------------------

async function openMerge() {
  const person = view.person;
  if (!person) return;
  let data;
  try {
    data = await api('/api/people');
  } catch (err) {
    report(err);
    return;
  }
  const others = (data.people || []).filter((p) => p.id !== person.id);
  if (!others.length) {
    toast('There is nobody else to merge with yet.');
    return;
  }
  el.mergeTitle.textContent = `Merge into ${person.name || 'this person'}`;
  el.mergeList.replaceChildren(...others.map((p) => h(
    'li',
    null,
    h(
      'label',
      { class: 'merge-option', 'data-testid': 'merge-option', 'data-id': p.id, 'data-name': p.name || '' },
      h('input', { type: 'checkbox', name: 'people', value: p.id }),
      p.thumbnail ? faceImg(p.thumbnail, 64, '', 'merge-face') : h('span', { class: 'merge-face' }),
      h('span', { class: 'merge-name' }, p.name || 'Unnamed person'),
      h('span', { class: 'muted merge-count' }, plural(p.photos, 'photo')),
    ),
  )));
  updateMergeSubmit();
  el.mergeDialog.showModal();
  el.mergeList.querySelector('input')?.focus();
}

function updateMergeSubmit() {
  const n = el.mergeList.querySelectorAll('input:checked').length;
  el.mergeSubmit.disabled = n === 0;
  el.mergeSubmit.textContent = n ? `Merge ${plural(n, 'person', 'people')}` : 'Merge';
}

el.mergeList.addEventListener('change', updateMergeSubmit);
el.mergeCancel.addEventListener('click', () => el.mergeDialog.close());
el.mergeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const ids = [...el.mergeList.querySelectorAll('input:checked')].map((input) => Number(input.value));
  if (!ids.length || view.mode !== 'person') return;
  const into = view.personId;
  el.mergeSubmit.disabled = true;
  let change;
  try {
    change = await api(`/api/people/${into}/merge`, { method: 'POST', json: { people: ids } });
  } catch (err) {
    report(err);
    updateMergeSubmit();
    return;
  }
  el.mergeDialog.close();
  peopleChanged();
  toast(`Merged ${plural(ids.length, 'person', 'people')} into ${change.person?.name || 'this person'}`);
  showPerson(into, { fromUrl: true, person: change.person });
});

/** "Not them": take faces out of a person for good; a toast offers to undo it. */
async function removeFromPerson(personId, faceIds, imageId) {
  const who = view.mode === 'person' && view.personId === personId ? view.person?.name || 'this person' : 'this person';
  let change;
  try {
    change = await api(`/api/people/${personId}/remove`, { method: 'POST', json: { faces: faceIds } });
  } catch (err) {
    report(err);
    return;
  }
  peopleChanged();
  const here = view.mode === 'person' && view.personId === personId;
  if (here) {
    const item = view.items.find((it) => it.image.id === imageId);
    const left = (item?.faces || []).filter((f) => !faceIds.includes(f.id));
    if (item) item.faces = left;
    if (!left.length) {
      if (el.viewer.open && viewer.list === view.items) closeViewer();
      removeItem(imageId);
    }
  }
  const undo = {
    label: 'Undo',
    run: async () => {
      try {
        await api(`/api/people/${personId}/add`, { method: 'POST', json: { faces: faceIds } });
      } catch (err) {
        report(err);
        return;
      }
      peopleChanged();
      if (view.mode === 'person' && view.personId === personId) showPerson(personId, { fromUrl: true });
    },
  };
  if (!change.person) {
    toast(`${sentence(who)} has no photos left`, { action: undo });
    if (here) showPeople();
    return;
  }
  toast(`Removed from ${who}`, { action: undo });
  if (here) setPerson(change.person);
}

// ---- photos with a face like this one ----------------------------------------------------

async function showFaceSearch(face, { fromUrl = false } = {}) {
  closeViewer();
  if (!fromUrl) setUrl({ face: face.id }, true);
  el.searchInput.value = '';
  resetView('face');
  view.source = face;
  document.title = `Faces like ${face.person_name || 'this one'} · pixseek`;
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

el.peopleLink.addEventListener('click', (event) => {
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button) return;
  event.preventDefault();
  showPeople();
});

// ------------------------------------------------------------------------------------------
// Photo view

const viewer = { list: [], index: -1, details: new Map(), ctrl: null, returnId: null };

function openViewer(list, index) {
  viewer.list = list;
  if (!el.viewer.open) el.viewer.showModal();
  showInViewer(index);
  el.viewerClose.focus({ preventScroll: true });
}

function closeViewer() {
  if (el.viewer.open) el.viewer.close();
}

el.viewer.addEventListener('close', () => {
  viewer.ctrl?.abort();
  hideFaceMenu();
  const item = viewer.list[viewer.index];
  el.viewerImg.removeAttribute('src');
  const node = item && tileNode(item.image.id);
  if (node && !el.appView.hidden) {
    node.scrollIntoView({ block: 'nearest' });
    node.focus({ preventScroll: true });
  }
});

async function fetchDetails(id, signal) {
  if (viewer.details.has(id)) return viewer.details.get(id);
  const query = TAG_LANGUAGE === 'en' ? '' : `?lang=${TAG_LANGUAGE}`;
  const detail = await api(`/api/images/${id}${query}`, { signal, quiet: true });
  viewer.details.set(id, detail);
  return detail;
}

function metaRows(image) {
  const rows = [];
  const add = (label, ...value) => rows.push(h('dt', null, label), h('dd', null, ...value));
  if (image.width && image.height) add('Size', `${image.width} × ${image.height} px${image.width * image.height >= 1e6 ? ` (${(image.width * image.height / 1e6).toFixed(1)} MP)` : ''}`);
  if (image.format) add('Format', image.format);
  add('Taken', image.taken_at ? formatDate(image.taken_at) : h('span', { class: 'muted' }, 'Unknown'));
  if (image.camera) add('Camera', image.camera);
  if (Array.isArray(image.gps) && image.gps.length === 2) add('Location', `${Number(image.gps[0]).toFixed(5)}, ${Number(image.gps[1]).toFixed(5)}`);
  const paths = image.paths || [];
  if (paths.length) add(paths.length > 1 ? 'Paths' : 'Path', paths.map((p) => h('span', { class: 'path' }, p)));
  return rows;
}

const TAG_GROUPS = { class: 'Looks like', concept: 'Broader' };

/** Tags as chips (a click searches for the tag), grouped by kind: classifier classes, then concepts. */
function renderTags(detail) {
  const tags = detail.tags || [];
  el.viewerTags.removeAttribute('aria-busy');
  if (!tags.length) {
    el.viewerTags.replaceChildren(h('p', { class: 'muted' }, 'No tags'));
    return;
  }
  const groups = new Map();
  for (const tag of tags) {
    const kind = tag.kind || '';
    if (!groups.has(kind)) groups.set(kind, []);
    groups.get(kind).push(tag);
  }
  let first = true;
  const chip = (tag) => {
    const node = h('li', null,
      h('button', {
        type: 'button',
        class: `chip${first ? ' strong' : ''}`,
        'data-testid': 'tag',
        'data-tag': tag.name,
        'data-kind': tag.kind || null,
        title: `Search for “${tag.name}”`,
        onclick: () => { closeViewer(); el.searchInput.value = tag.name; runSearch(tag.name); },
      }, tag.name, typeof tag.score === 'number' ? h('span', { class: 'score' }, `${Math.round(tag.score * 100)}%`) : null));
    first = false;
    return node;
  };
  el.viewerTags.replaceChildren(
    ...[...groups].map(([kind, list]) => [
      groups.size > 1 ? h('p', { class: 'tag-group' }, TAG_GROUPS[kind] || kind || 'Tags') : null,
      h('ul', { class: 'chips' }, list.map(chip)),
    ]).flat().filter(Boolean),
  );
}

/** A "why" line with the words the search found in the picture's text ("[INVOICE]") marked. */
function marked(line) {
  if (!line.startsWith('text: ')) return [line];
  return line.split(/(\[[^\]]*\])/).map((part) => (
    part.startsWith('[') && part.endsWith(']') ? h('mark', null, part.slice(1, -1)) : part
  ));
}

/** The text read in the photo (`detail` is its /api/images/{id} answer; null: not known yet). */
function renderText(detail) {
  const lines = detail && Array.isArray(detail.text) ? detail.text : [];
  el.viewerTextSection.hidden = !lines.length;
  el.viewerText.replaceChildren(...lines.map((line) => h('li', { title: `confidence ${line.score.toFixed(2)}` }, line.text)));
}

function showInViewer(index) {
  const item = viewer.list[index];
  if (!item) return;
  viewer.index = index;
  viewer.ctrl?.abort();
  viewer.ctrl = new AbortController();
  const { signal } = viewer.ctrl;
  const image = viewer.details.get(item.image.id) || item.image;

  // picture: the 512 px thumbnail first, then the original when the browser can show it
  const img = el.viewerImg;
  img.alt = altText({ ...item, image });
  el.viewerSpinner.hidden = false;
  img.onload = () => { el.viewerSpinner.hidden = true; };
  img.onerror = () => { el.viewerSpinner.hidden = true; };
  img.src = thumbUrl(image, 512);
  const stage = img.parentElement;
  const wantsOriginal = WEB_FORMATS.has(String(image.format || '').toUpperCase())
    && Math.max(image.width || 0, image.height || 0) > 640
    && Math.max(stage.clientWidth, stage.clientHeight) * (window.devicePixelRatio || 1) > 560;
  if (wantsOriginal && image.original) {
    const full = new Image();
    full.decoding = 'async';
    full.onload = () => { if (!signal.aborted && viewer.index === index) img.src = full.src; };
    full.src = image.original;
  }

  el.viewerTitle.textContent = image.name;
  el.viewerSubtitle.textContent = [formatDate(image.taken_at), image.width ? `${image.width} × ${image.height}` : ''].filter(Boolean).join(' · ');
  el.viewerOriginal.href = image.original || `/api/images/${image.id}/original`;
  el.viewerPrev.disabled = index <= 0;
  el.viewerNext.disabled = index >= viewer.list.length - 1 && !(viewer.list === view.items && !view.done);

  const why = item.why || [];
  el.viewerWhySection.hidden = !why.length;
  el.viewerWhy.replaceChildren(
    ...why.map((line) => h('li', null, ...marked(line))),
    typeof item.score === 'number' ? h('li', { class: 'score-line' }, `Match score ${item.score.toFixed(2)}`) : null,
  );
  el.viewerMeta.replaceChildren(...metaRows(image));

  const cached = viewer.details.get(item.image.id);
  renderFaces(item, cached || null);
  renderText(cached || null);
  if (cached) {
    renderTags(cached);
  } else {
    el.viewerTags.setAttribute('aria-busy', 'true');
    el.viewerTags.replaceChildren(h('ul', { class: 'chips' }, [72, 56, 88].map((w) => h('li', null, h('span', { class: 'skeleton', style: `width:${w}px` })))));
    fetchDetails(item.image.id, signal)
      .then((detail) => {
        if (signal.aborted) return;
        renderTags(detail);
        renderFaces(item, detail);
        renderText(detail);
        el.viewerMeta.replaceChildren(...metaRows(detail));
        img.alt = altText({ ...item, image: detail });
      })
      .catch((err) => {
        if (signal.aborted || err.name === 'AbortError') return;
        el.viewerTags.replaceChildren(h('p', { class: 'muted' }, 'Tags unavailable'));
        report(err);
      });
  }
  // warm the neighbours
  for (const n of [index - 1, index + 1]) {
    const neighbour = viewer.list[n];
    if (neighbour) new Image().src = thumbUrl(neighbour.image, 512);
  }
}

// ---- faces in the photo view: boxes over the picture, a menu per face, the people in it -----

const faceBoxes = { shown: localStorage.getItem(FACE_BOXES_KEY) !== '0', detail: null };

function faceTitle(face) {
  if (face.person_name) return face.person_name;
  return face.person_id != null ? 'Unnamed person' : 'Not grouped yet';
}

/** Boxes for the faces of the photo (`detail` is its /api/images/{id} answer; null: not known yet). */
function renderFaces(item, detail) {
  hideFaceMenu();
  const faces = detail && Array.isArray(detail.faces) ? detail.faces : [];
  faceBoxes.detail = faces.length ? detail : null;
  const matched = new Set((item.faces || []).map((f) => f.id));
  const { width, height } = detail || {};
  el.faceLayer.replaceChildren(...(width && height ? faces : []).map((face, i) => {
    const [x0, y0, x1, y1] = face.box;
    const pct = (value, of) => `${((value / of) * 100).toFixed(3)}%`;
    const node = h('button', {
      type: 'button',
      class: `face-box${matched.has(face.id) ? ' match' : ''}`,
      'data-testid': 'face-box',
      'data-face-id': face.id,
      'data-person-id': face.person_id ?? null,
      style: `left:${pct(x0, width)};top:${pct(y0, height)};width:${pct(x1 - x0, width)};height:${pct(y1 - y0, height)}`,
      title: faceTitle(face),
      'aria-label': `${faceTitle(face)} (face ${i + 1} of ${faces.length})`,
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
    }, face.person_name ? h('span', { class: 'face-label', 'aria-hidden': 'true' }, face.person_name) : null);
    node.addEventListener('click', (event) => {
      event.stopPropagation();
      toggleFaceMenu(face, node);
    });
    return node;
  }));
  el.viewerFaces.hidden = !faces.length;
  renderFaceToggle();
  placeFaceLayer();

  // The people in the photo, also for those who do not point at boxes.
  const seen = new Set();
  const chips = faces.filter((face) => {
    const key = face.person_id != null ? `p${face.person_id}` : `f${face.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).map((face) => h('li', null, h('button', {
    type: 'button',
    class: 'chip face-chip',
    'data-testid': 'photo-view-person',
    'data-person-id': face.person_id ?? null,
    title: face.person_id != null ? `Photos of ${face.person_name || 'this person'}` : 'Find photos with this face',
    onclick: () => (face.person_id != null ? showPerson(face.person_id) : showFaceSearch(face)),
  }, faceImg(face.thumbnail, 64, ''), face.person_id != null ? faceTitle(face) : 'Find this face')));
  el.viewerPeopleSection.hidden = !chips.length;
  el.viewerPeople.replaceChildren(...chips);
}

/** Lay the box layer exactly over the picture as shown (object-fit: contain letterboxes it). */
function placeFaceLayer() {
  const detail = faceBoxes.detail;
  const img = el.viewerImg;
  const show = Boolean(faceBoxes.shown && detail && el.viewer.open && img.clientWidth);
  el.faceLayer.hidden = !show;
  if (!show) return;
  const scale = Math.min(img.clientWidth / detail.width, img.clientHeight / detail.height);
  const w = detail.width * scale;
  const hgt = detail.height * scale;
  Object.assign(el.faceLayer.style, {
    left: `${img.offsetLeft + (img.clientWidth - w) / 2}px`,
    top: `${img.offsetTop + (img.clientHeight - hgt) / 2}px`,
    width: `${w}px`,
    height: `${hgt}px`,
  });
}
new ResizeObserver(() => placeFaceLayer()).observe(el.viewerImg);

function renderFaceToggle() {
  const label = faceBoxes.shown ? 'Hide faces' : 'Show faces';
  el.viewerFaces.setAttribute('aria-pressed', String(faceBoxes.shown));
  el.viewerFaces.title = `${label} (F)`;
  el.viewerFaces.setAttribute('aria-label', label);
}

function toggleFaceBoxes() {
  // Hiding the boxes must not drop the keyboard focus out of the photo view with them.
  if (el.faceLayer.contains(document.activeElement)) el.viewerFaces.focus();
  faceBoxes.shown = !faceBoxes.shown;
  try { localStorage.setItem(FACE_BOXES_KEY, faceBoxes.shown ? '1' : '0'); } catch { /* private mode */ }
  hideFaceMenu();
  renderFaceToggle();
  placeFaceLayer();
}
el.viewerFaces.addEventListener('click', toggleFaceBoxes);

function toggleFaceMenu(face, anchor) {
  if (!el.faceMenu.hidden && el.faceMenu.dataset.faceId === String(face.id)) {
    hideFaceMenu();
    return;
  }
  hideFaceMenu();
  const action = (label, iconName, testid, run) => h('button', {
    type: 'button',
    role: 'menuitem',
    'data-testid': testid,
    onclick: () => { hideFaceMenu(false); run(); },
  }, icon(iconName), label);
  const named = face.person_name;
  const items = [];
  if (face.person_id != null) {
    items.push(action(named ? `Photos of ${named}` : 'Photos of this person', 'people', 'face-menu-person', () => showPerson(face.person_id)));
  }
  items.push(action('Find this face', 'image-search', 'face-menu-similar', () => showFaceSearch(face)));
  if (face.person_id != null && !named) {
    items.push(action('Add a name', 'edit', 'face-menu-name', () => showPerson(face.person_id, { editName: true })));
  }
  if (view.mode === 'person' && face.person_id === view.personId) {
    const item = viewer.list[viewer.index];
    items.push(action(`Not ${named || 'this person'}`, 'close', 'face-menu-remove',
      () => removeFromPerson(face.person_id, [face.id], item?.image.id)));
  }
  el.faceMenu.replaceChildren(h('p', { class: 'menu-head', 'aria-hidden': 'true' }, faceTitle(face)), ...items);
  el.faceMenu.setAttribute('aria-label', faceTitle(face));
  el.faceMenu.dataset.faceId = String(face.id);
  el.faceMenu.hidden = false;
  anchor.setAttribute('aria-expanded', 'true');
  // Below the box (above it when there is no room), inside the stage.
  const stage = el.viewerImg.parentElement.getBoundingClientRect();
  const box = anchor.getBoundingClientRect();
  const menu = el.faceMenu.getBoundingClientRect();
  const below = box.bottom - stage.top + (named ? 32 : 8);
  const top = below + menu.height > stage.height - 8 ? box.top - stage.top - menu.height - 8 : below;
  const left = box.left - stage.left + box.width / 2 - menu.width / 2;
  el.faceMenu.style.left = `${Math.max(8, Math.min(left, stage.width - menu.width - 8))}px`;
  el.faceMenu.style.top = `${Math.max(8, Math.min(top, stage.height - menu.height - 8))}px`;
  el.faceMenu.querySelector('[role="menuitem"]')?.focus();
}

function hideFaceMenu(refocus = false) {
  if (el.faceMenu.hidden) return;
  el.faceMenu.hidden = true;
  const anchor = el.faceLayer.querySelector('[aria-expanded="true"]');
  anchor?.setAttribute('aria-expanded', 'false');
  delete el.faceMenu.dataset.faceId;
  if (refocus) anchor?.focus();
}

el.faceMenu.addEventListener('keydown', (event) => {
  const items = [...el.faceMenu.querySelectorAll('[role="menuitem"]')];
  const at = items.indexOf(document.activeElement);
  if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    const next = event.key === 'ArrowDown' ? at + 1 : at - 1;
    items[(next + items.length) % items.length]?.focus();
  } else if (event.key === 'Tab') {
    hideFaceMenu();
  }
});
// Esc closes the menu first, the photo view only when no menu is open.
el.viewer.addEventListener('cancel', (event) => {
  if (el.faceMenu.hidden) return;
  event.preventDefault();
  hideFaceMenu(true);
});
el.viewerImg.parentElement.addEventListener('click', (event) => {
  if (!el.faceMenu.contains(event.target)) hideFaceMenu();
});
el.viewerImg.addEventListener('load', () => placeFaceLayer());

async function step(delta) {
  if (!el.viewer.open) return;
  const target = viewer.index + delta;
  if (target < 0) return;
  if (target >= viewer.list.length) {
    if (viewer.list !== view.items || view.done) return;
    await loadPage();
    if (target >= viewer.list.length) return;
  }
  showInViewer(target);
}

el.viewerClose.addEventListener('click', closeViewer);
el.viewerPrev.addEventListener('click', () => step(-1));
el.viewerNext.addEventListener('click', () => step(1));
el.viewer.addEventListener('keydown', (event) => {
  if (event.target.closest('input, textarea')) return;
  if (!el.faceMenu.hidden && el.faceMenu.contains(event.target)) return; // the menu's own keys
  if (event.key === 'ArrowLeft') { event.preventDefault(); step(-1); }
  else if (event.key === 'ArrowRight') { event.preventDefault(); step(1); }
  else if ((event.key === 'f' || event.key === 'F') && !event.ctrlKey && !event.metaKey && !el.viewerFaces.hidden) {
    event.preventDefault();
    toggleFaceBoxes();
  }
});
let touchX = null;
el.viewerImg.parentElement.addEventListener('touchstart', (e) => { touchX = e.touches[0].clientX; }, { passive: true });
el.viewerImg.parentElement.addEventListener('touchend', (e) => {
  if (touchX == null) return;
  const dx = e.changedTouches[0].clientX - touchX;
  touchX = null;
  if (Math.abs(dx) > 48) step(dx < 0 ? 1 : -1);
});

el.moreLikeThis.addEventListener('click', () => {
  const item = viewer.list[viewer.index];
  if (item) showSimilar(item.image);
});

el.viewerDelete.addEventListener('click', async () => {
  const item = viewer.list[viewer.index];
  if (!item) return;
  if (!window.confirm(`Delete “${item.image.name}” from your library?`)) return;
  try {
    await api(`/api/images/${item.image.id}`, { method: 'DELETE' });
  } catch (err) {
    report(err);
    return;
  }
  const list = viewer.list;
  const index = viewer.index;
  if (list !== view.items) list.splice(index, 1);
  removeItem(item.image.id);
  viewer.details.delete(item.image.id);
  toast(`Deleted ${item.image.name}`);
  if (list.length) showInViewer(Math.min(index, list.length - 1));
  else closeViewer();
});

// ------------------------------------------------------------------------------------------
// Uploads: one request per file so each gets its own progress bar, then follow its job

const uploads = { queue: [], active: 0, rows: [] };

function uploadFiles(fileList) {
  const files = [...fileList];
  if (!files.length) return;
  el.uploads.hidden = false;
  for (const file of files) {
    const row = {
      file,
      status: 'waiting',
      node: null,
      bar: h('span'),
      statusText: h('span', { class: 'upload-status', 'data-testid': 'upload-status' }, 'Waiting…'),
      thumb: h('div', { class: 'upload-thumb' }, icon('photos')),
      state: h('span', { class: 'upload-state' }),
    };
    row.node = h(
      'li',
      { class: 'upload-item', 'data-testid': 'upload-item', 'data-status': 'waiting', 'data-name': file.name },
      row.thumb,
      h('div', { class: 'upload-body' },
        h('span', { class: 'upload-name', title: file.name }, file.name),
        h('div', { class: 'bar', role: 'progressbar', 'aria-label': `Uploading ${file.name}`, 'aria-valuemin': 0, 'aria-valuemax': 100 }, row.bar),
        row.statusText),
      row.state,
    );
    uploads.rows.push(row);
    uploads.queue.push(row);
    el.uploadsList.append(row.node);
  }
  renderUploadsTitle();
  pumpUploads();
}

function pumpUploads() {
  while (uploads.active < UPLOAD_CONCURRENCY && uploads.queue.length) {
    const row = uploads.queue.shift();
    uploads.active += 1;
    runUpload(row).finally(() => {
      uploads.active -= 1;
      renderUploadsTitle();
      pumpUploads();
    });
  }
}

function setRow(row, status, text, progress) {
  row.status = status;
  row.node.dataset.status = status;
  row.statusText.textContent = text;
  const bar = row.bar.parentElement;
  bar.classList.toggle('indeterminate', progress == null);
  if (progress != null) {
    row.bar.style.width = `${Math.round(progress * 100)}%`;
    bar.setAttribute('aria-valuenow', String(Math.round(progress * 100)));
  } else {
    bar.removeAttribute('aria-valuenow');
  }
  row.state.replaceChildren(
    status === 'done' ? icon('check') : status === 'failed' ? icon('alert') : status === 'waiting' ? '' : h('span', { class: 'mini-spinner' }),
  );
  renderUploadsTitle();
}

function renderUploadsTitle() {
  const rows = uploads.rows;
  const done = rows.filter((r) => r.status === 'done').length;
  const failed = rows.filter((r) => r.status === 'failed').length;
  const pending = rows.length - done - failed;
  el.uploadsTitle.textContent = pending
    ? `Adding ${plural(pending, 'photo')}…`
    : [done ? `${plural(done, 'photo')} added` : '', failed ? `${failed} failed` : ''].filter(Boolean).join(', ') || 'Uploads';
}

function xhrUpload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/images');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader(...CSRF);
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText || 'null'); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      if (xhr.status === 401) onUnauthorized();
      reject(new ApiError(xhr.status, detailText(body, xhr.status, xhr.statusText)));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'Upload failed: cannot reach the server.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'Upload cancelled.')));
    const form = new FormData();
    form.append('files', file, file.name);
    xhr.send(form);
  });
}

function failRow(row, message) {
  const reason = sentence(message);
  setRow(row, 'failed', reason, 0);
  row.node.querySelector('.upload-status').setAttribute('role', 'alert');
  toast(`${row.file.name}: ${reason}`, { kind: 'error' });
}

async function runUpload(row) {
  setRow(row, 'uploading', 'Uploading…', 0);
  let answer;
  try {
    answer = await xhrUpload(row.file, (p) => setRow(row, 'uploading', p >= 1 ? 'Processing…' : `Uploading… ${Math.round(p * 100)}%`, p));
  } catch (err) {
    if (err.status === 401) return setRow(row, 'failed', 'Not signed in', 0);
    return failRow(row, err.message);
  }
  const job = answer && Array.isArray(answer.jobs) ? answer.jobs[0] : null;
  if (!job) return failRow(row, 'The server did not accept the file.');
  await followJob(row, job);
}

async function followJob(row, job) {
  let delay = 300;
  let misses = 0;
  for (;;) {
    if (job.status === 'done') return finishRow(row, job);
    if (job.status === 'failed') return failRow(row, job.error || 'Could not add this file.');
    setRow(row, job.status, job.status === 'running' ? 'Analysing…' : 'Waiting to be analysed…', null);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 2000);
    try {
      job = await api(`/api/jobs/${job.id}`, { quiet: true });
      misses = 0;
    } catch (err) {
      if (err.status === 401) return setRow(row, 'failed', 'Not signed in', 0);
      if (err.status === 404 || ++misses > 5) return failRow(row, err.message);
    }
  }
}

async function finishRow(row, job) {
  setRow(row, 'done', 'Added', 1);
  if (job.image_id == null) return;
  let image;
  try {
    image = await api(`/api/images/${job.image_id}`, { quiet: true });
  } catch (err) {
    report(err);
    return;
  }
  viewer.details.set(image.id, image);
  const thumb = h('button', { type: 'button', class: 'upload-thumb', 'aria-label': `Open ${image.name}`, 'data-testid': 'upload-open' },
    h('img', { src: thumbUrl(image, 128), alt: altText({ image }) }));
  thumb.addEventListener('click', () => {
    const index = view.items.findIndex((item) => item.image.id === image.id);
    if (index >= 0) openViewer(view.items, index);
    else openViewer([{ image }], 0);
  });
  row.thumb.replaceWith(thumb);
  row.thumb = thumb;
  const top = (image.tags || [])[0];
  setRow(row, 'done', top ? `Added · ${top.name}` : 'Added', 1);
  if (view.mode === 'library') {
    if (addItems([{ image }], { prepend: true }) && view.total != null) view.total += 1;
    if (view.total == null) view.total = view.items.length;
    renderContext();
    renderEmpty();
  }
}

function clearUploads(all = false) {
  uploads.rows = uploads.rows.filter((row) => {
    const finished = row.status === 'done' || row.status === 'failed';
    if (finished || all) row.node.remove();
    return !(finished || all);
  });
  if (all) uploads.queue.length = 0;
  el.uploads.hidden = uploads.rows.length === 0;
  renderUploadsTitle();
}

el.uploadBtn.addEventListener('click', () => el.uploadInput.click());
el.uploadInput.addEventListener('change', () => {
  const files = [...el.uploadInput.files];
  el.uploadInput.value = '';
  uploadFiles(files);
});
el.uploadsClose.addEventListener('click', () => {
  clearUploads();
  el.uploads.hidden = true;
});

// ------------------------------------------------------------------------------------------
// Drag and drop: an overlay with two targets, "search by this photo" and "add to library"

let dragDepth = 0;
const hasFiles = (event) => Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes('Files');

function setDropTarget(target) {
  for (const node of el.dropZone.querySelectorAll('.drop-target')) node.classList.toggle('over', node === target);
}

window.addEventListener('dragenter', (event) => {
  if (!hasFiles(event) || el.appView.hidden) return;
  event.preventDefault();
  dragDepth += 1;
  if (dragDepth === 1) {
    closeViewer();
    el.dropZone.classList.toggle('upload-only', view.mode === 'library' && view.total === 0);
    el.dropZone.hidden = false;
  }
});
window.addEventListener('dragover', (event) => {
  if (!hasFiles(event) || el.appView.hidden) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
  setDropTarget(event.target.closest?.('.drop-target'));
});
window.addEventListener('dragleave', (event) => {
  if (!hasFiles(event)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) el.dropZone.hidden = true;
});
// A drag that ends outside the window sends no dragleave/drop to us: let a click or Esc clear it.
el.dropZone.addEventListener('click', () => { dragDepth = 0; el.dropZone.hidden = true; });
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !el.dropZone.hidden) { dragDepth = 0; el.dropZone.hidden = true; }
});
window.addEventListener('drop', (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  el.dropZone.hidden = true;
  setDropTarget(null);
  if (el.appView.hidden) return;
  const files = [...event.dataTransfer.files];
  if (!files.length) return;
  const target = event.target.closest?.('[data-drop]');
  const where = target ? target.dataset.drop : el.dropZone.classList.contains('upload-only') ? 'upload' : null;
  if (where === 'search') searchByImage(files[0]);
  else uploadFiles(files);
});

// ------------------------------------------------------------------------------------------

boot();
