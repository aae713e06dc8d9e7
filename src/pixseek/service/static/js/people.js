// People: faces grouped by person. The People page, one person's photos, photos with a face like one.

import { el, h, icon, plural, sentence } from './dom.js';
import { api, report } from './api.js';
import { faceImg } from './pictures.js';
import { toast } from './toast.js';
import { loadPage, onNavClick, removeItem, resetView, setUrl, view } from './grid.js';
import { runSearch } from './searchbar.js';
import { renderContext } from './context.js';
import { closeViewer, viewer } from './photo.js';

const personName = (person) => (person && person.name) || '';
export const personLabel = (person) => personName(person) || 'this person';

/** The "not them" button of a photo in a person's photos, named after the person shown. */
export function labelNotThem(button, imageName) {
  button.title = `Not ${personLabel(view.person)}`;
  button.setAttribute('aria-label', `${imageName}: not ${personLabel(view.person)}, remove from this person`);
  return button;
}

/** Names and faces changed: photo details cached with the old names must be fetched again. */
function peopleChanged() {
  viewer.details.clear();
}

export function peopleChip() {
  return h(
    'button',
    { type: 'button', class: 'chip', 'data-testid': 'back-to-people', onclick: () => showPeople() },
    icon('left'),
    'People',
  );
}

export async function showPeople({ fromUrl = false } = {}) {
  closeViewer();
  if (!fromUrl) setUrl({ view: 'people' }, view.mode !== 'people');
  el.searchInput.value = '';
  resetView('people');
  document.title = 'People · pixseek';
  window.scrollTo(0, 0);
  renderContext();
  await loadPage();
}

export async function showPerson(id, { fromUrl = false, person = null, editName = false } = {}) {
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
export function setPerson(person) {
  const old = view.person;
  if (!old || old.id !== person.id || old.name !== person.name || old.cover_face_id !== person.cover_face_id) view.personHead = null;
  view.person = person;
  document.title = `${person.name || 'Unnamed person'} · pixseek`;
}

export function personCard(person) {
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

export function personHead(person) {
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
export async function removeFromPerson(personId, faceIds, imageId) {
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

export async function showFaceSearch(face, { fromUrl = false } = {}) {
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

onNavClick(el.peopleLink, () => showPeople());
