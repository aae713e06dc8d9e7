// Drag and drop: an overlay with two targets, "search by this photo" and "add to library".

import { el } from './dom.js';
import { view } from './grid.js';
import { searchByImage } from './searchbar.js';
import { closeViewer } from './photo.js';
import { uploadFiles } from './upload.js';

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
