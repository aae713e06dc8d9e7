// Session: signing in and out.

import { el } from './dom.js';
import { api, report } from './api.js';
import { resetView } from './grid.js';
import { closeViewer, viewer } from './photo.js';
import { clearUploads } from './upload.js';
import { boot, route } from './main.js';

export const session = { me: null, unauthorizedShown: false };

export function showLogin(message = '') {
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

export function showApp() {
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

export function onUnauthorized() {
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
