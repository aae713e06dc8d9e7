// Small DOM helpers, and the page's elements by name.

const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
export const el = {
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
  peopleLink: $('people-link'),
  context: $('context-bar'),
  peopleGrid: $('people-grid'),
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
  viewerTextSection: $('viewer-text-section'),
  viewerText: $('viewer-text'),
  viewerTags: $('viewer-tags'),
  viewerMeta: $('viewer-meta'),
  viewerOriginal: $('viewer-original'),
  viewerDelete: $('viewer-delete'),
  viewerFaces: $('viewer-faces'),
  viewerPeopleSection: $('viewer-people-section'),
  viewerPeople: $('viewer-people'),
  faceLayer: $('face-layer'),
  faceMenu: $('face-menu'),
  moreLikeThis: $('more-like-this'),
  mergeDialog: $('merge-dialog'),
  mergeForm: $('merge-form'),
  mergeTitle: $('merge-title'),
  mergeList: $('merge-list'),
  mergeSubmit: $('merge-submit'),
  mergeCancel: $('merge-cancel'),
  dropZone: $('drop-zone'),
  uploads: $('uploads'),
  uploadsTitle: $('uploads-title'),
  uploadsList: $('uploads-list'),
  uploadsClose: $('uploads-close'),
  toasts: $('toasts'),
};


export function h(tag, attrs, ...children) {
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

export function icon(name, cls) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('aria-hidden', 'true');
  if (cls) svg.setAttribute('class', cls);
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const sentence = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text); // server messages are lower case
export const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  return new Intl.DateTimeFormat(undefined, dateOnly ? { dateStyle: 'medium' } : { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}
