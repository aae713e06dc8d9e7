// Toasts: short messages at the bottom of the window.

import { el, h, icon } from './dom.js';

export function toast(message, { kind = 'info', timeout, action } = {}) {
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
