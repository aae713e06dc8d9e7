// Search box: search by words or by a photo.

import { el } from './dom.js';
import { toast } from './toast.js';
import { loadPage, resetView, setUrl, showLibrary, view } from './grid.js';
import { renderContext } from './context.js';
import { closeViewer } from './photo.js';

const DEBOUNCE_MS = 250;

export async function runSearch(text, { force = false, fromUrl = false } = {}) {
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

export async function showSimilar(image, { fromUrl = false } = {}) {
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

/** A video is searched by its first frame (the server decodes it). */
export function isVideoFile(file) {
  return (file.type || '').startsWith('video/') || /\.(mp4|m4v|mov|mkv|webm)$/i.test(file.name || '');
}

export async function searchByImage(file) {
  if (!file) return;
  if (!isImageFile(file) && !isVideoFile(file)) {
    toast(`“${file.name}” is not a picture or a video. Drop a JPEG, PNG, WebP or HEIC file, or a video, to search by it.`, { kind: 'error' });
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
