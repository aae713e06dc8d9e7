// Uploads: one request per file so each gets its own progress bar, then follow its job.

import { el, h, icon, plural, sentence, sleep } from './dom.js';
import { api, ApiError, CSRF, detailText, report } from './api.js';
import { altText, thumbUrl } from './pictures.js';
import { toast } from './toast.js';
import { onUnauthorized } from './session.js';
import { addItems, view } from './grid.js';
import { renderContext, renderEmpty } from './context.js';
import { openViewer, viewer } from './photo.js';

const UPLOAD_CONCURRENCY = 2;

const uploads = { queue: [], active: 0, rows: [] };

export function uploadFiles(fileList) {
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

export function clearUploads(all = false) {
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
