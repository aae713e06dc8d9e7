// pixseek web UI: native ES modules, no build step, no dependencies. Talks to the HTTP API in
// docs/http-api.md. This module boots the app and routes between its views by the URL.

import { el } from './dom.js';
import { api, report } from './api.js';
import { session, showApp, showLogin } from './session.js';
import { showLibrary } from './grid.js';
import { runSearch, showSimilar } from './searchbar.js';
import { showFaceSearch, showPeople, showPerson } from './people.js';
import { showDuplicates } from './duplicates.js';
import { showMap } from './map.js';
// Components that only listen to the page are loaded for their listeners.
import './upload.js';
import './teach.js';
import './drop.js';

export async function boot() {
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

export function route() {
  const params = new URLSearchParams(location.search);
  const q = params.get('q');
  const similar = params.get('similar');
  const person = params.get('person');
  const face = params.get('face');
  if (params.get('view') === 'people') {
    showPeople({ fromUrl: true });
  } else if (params.get('view') === 'duplicates') {
    showDuplicates({ fromUrl: true });
  } else if (params.get('view') === 'places') {
    showMap({ fromUrl: true });
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

boot();
