// Photo view.

import { el, formatDate, h } from './dom.js';
import { TAG_LANGUAGE } from './i18n.js';
import { api, report } from './api.js';
import { altText, thumbUrl } from './pictures.js';
import { toast } from './toast.js';
import { loadPage, removeItem, tileNode, view } from './grid.js';
import { runSearch, showSimilar } from './searchbar.js';
import { hideFaceMenu, renderFaces, toggleFaceBoxes } from './photo-faces.js';
import { hideVideo, showVideo } from './photo-video.js';

const WEB_FORMATS = new Set(['JPEG', 'JPG', 'PNG', 'WEBP', 'GIF', 'BMP', 'AVIF']);

export const viewer = { list: [], index: -1, details: new Map(), ctrl: null, returnId: null };

export function openViewer(list, index) {
  viewer.list = list;
  if (!el.viewer.open) el.viewer.showModal();
  showInViewer(index);
  el.viewerClose.focus({ preventScroll: true });
}

export function closeViewer() {
  if (el.viewer.open) el.viewer.close();
}

el.viewer.addEventListener('close', () => {
  viewer.ctrl?.abort();
  hideFaceMenu();
  const item = viewer.list[viewer.index];
  el.viewerImg.removeAttribute('src');
  hideVideo();
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
  if (image.place) add('Place', image.place);
  if (Array.isArray(image.gps) && image.gps.length === 2) add('Location', `${Number(image.gps[0]).toFixed(5)}, ${Number(image.gps[1]).toFixed(5)}`);
  const paths = image.paths || [];
  if (paths.length) add(paths.length > 1 ? 'Paths' : 'Path', paths.map((p) => h('span', { class: 'path' }, p)));
  return rows;
}

const TAG_GROUPS = { taught: 'Your concepts', class: 'Looks like', concept: 'Broader', characteristic: 'Characteristics', learned: 'Learned', model: 'Seen by the model' };

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
  showVideo(image, img); // a hit in a video: the video, at that second
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
