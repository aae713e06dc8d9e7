// pixseek web UI: plain ES module, no build step, no dependencies. Talks to the HTTP API in docs/http-api.md.

const PAGE_LIBRARY = 48; // /api/images limit (server max 200); 48 fills rows of 2, 3, 4, 6 and 8
const PAGE_SEARCH = 48; // /api/search limit per page
const PAGE_SIMILAR = 48; // similar / by-image: no offset in the API, so "more" asks for a larger limit
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
  context: $('context-bar'),
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
  viewerTags: $('viewer-tags'),
  viewerMeta: $('viewer-meta'),
  viewerOriginal: $('viewer-original'),
  viewerDelete: $('viewer-delete'),
  moreLikeThis: $('more-like-this'),
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

function thumbUrl(image, size) {
  const base = image.thumbnail || `/api/images/${image.id}/thumbnail`;
  return `${base}${base.includes('?') ? '&' : '?'}size=${size}`;
}

/** The classifier label a search "why" line names first, e.g. "cat: tabby 0.71, ..." -> "tabby". */
function whyTag(why) {
  for (const line of why || []) {
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
// The photo grid: one "view" at a time (library, text search, similar to a photo, by a dropped photo)

const view = {
  mode: 'library', // 'library' | 'search' | 'similar' | 'image'
  items: [], // [{image, score?, why?}]
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
  source: null, // similar: the Image; image: the File
  sourceUrl: '',
  suggestions: [],
  libraryEmpty: false, // a search without results: the library has no photos at all
};

function resetView(mode = 'library') {
  view.ctrl.abort();
  view.ctrl = new AbortController();
  if (view.sourceUrl) URL.revokeObjectURL(view.sourceUrl);
  Object.assign(view, {
    mode, items: [], ids: new Set(), total: null, offset: 0, limit: 0, done: false, loading: false, failed: false,
    query: '', result: null, source: null, sourceUrl: '', suggestions: [], libraryEmpty: false,
  });
  el.grid.replaceChildren();
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
  if (q) {
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
  return h(
    'li',
    null,
    h(
      'button',
      { type: 'button', class: 'tile', 'data-testid': 'tile', 'data-id': image.id, 'data-name': image.name, title },
      img,
      h('span', { class: 'tile-caption', 'aria-hidden': 'true' }, h('b', null, image.name), why.join(' · ')),
    ),
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
  if (!signal.aborted && view.mode === 'library') fillViewport();
}

/** Library: keep loading while the end of the grid is (nearly) on screen. */
function fillViewport() {
  requestAnimationFrame(() => {
    if (view.mode !== 'library' || view.done || view.loading || el.appView.hidden) return;
    if (el.sentinel.getBoundingClientRect().top < window.innerHeight + 800) loadPage();
  });
}

new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting) && view.mode === 'library') loadPage();
  },
  { rootMargin: '0px 0px 800px 0px' },
).observe(el.sentinel);

el.loadMore.addEventListener('click', () => loadPage());

function renderMore() {
  const paged = view.mode !== 'library';
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
        parts.push(h('span', { class: 'hint', 'data-testid': 'interpretation', title: 'How pixseek understood your words' }, 'Understood as ', alts));
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
  const known = (view.result?.interpretation || []).flatMap((alt) => alt.split(' AND ')).filter(Boolean);
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
  const show = view.items.length === 0 && view.done && !view.loading && !view.failed;
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
  const detail = await api(`/api/images/${id}`, { signal, quiet: true });
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
    ]).flat(),
  );
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
    ...why.map((line) => h('li', null, line)),
    typeof item.score === 'number' ? h('li', { class: 'score-line' }, `Match score ${item.score.toFixed(2)}`) : null,
  );
  el.viewerMeta.replaceChildren(...metaRows(image));

  const cached = viewer.details.get(item.image.id);
  if (cached) {
    renderTags(cached);
  } else {
    el.viewerTags.setAttribute('aria-busy', 'true');
    el.viewerTags.replaceChildren(h('ul', { class: 'chips' }, [72, 56, 88].map((w) => h('li', null, h('span', { class: 'skeleton', style: `width:${w}px` })))));
    fetchDetails(item.image.id, signal)
      .then((detail) => {
        if (signal.aborted) return;
        renderTags(detail);
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
  if (event.key === 'ArrowLeft') { event.preventDefault(); step(-1); }
  else if (event.key === 'ArrowRight') { event.preventDefault(); step(1); }
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
