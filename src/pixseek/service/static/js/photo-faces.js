// Faces in the photo view: boxes over the picture, a menu per face, the people in it.

import { el, h, icon } from './dom.js';
import { faceImg } from './pictures.js';
import { view } from './grid.js';
import { removeFromPerson, showFaceSearch, showPerson } from './people.js';
import { viewer } from './photo.js';

const FACE_BOXES_KEY = 'pixseek.faceBoxes'; // localStorage: '0' hides the face boxes in the photo view

const faceBoxes = { shown: localStorage.getItem(FACE_BOXES_KEY) !== '0', detail: null };

function faceTitle(face) {
  if (face.person_name) return face.person_name;
  return face.person_id != null ? 'Unnamed person' : 'Not grouped yet';
}

/** Boxes for the faces of the photo (`detail` is its /api/images/{id} answer; null: not known yet). */
export function renderFaces(item, detail) {
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

export function toggleFaceBoxes() {
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

export function hideFaceMenu(refocus = false) {
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
