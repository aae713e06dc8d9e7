// Thumbnail and face picture URLs, and how a photo is named for screen readers.

import { h } from './dom.js';

const withSize = (url, size) => `${url}${url.includes('?') ? '&' : '?'}size=${size}`;

export function thumbUrl(image, size) {
  return withSize(image.thumbnail || `/api/images/${image.id}/thumbnail`, size);
}

/** A round face picture: `size` px shown (64 or 128), twice that for sharp screens. */
export function faceImg(url, size, alt = '', cls = '') {
  return h('img', {
    class: cls || null, src: withSize(url, size), srcset: `${withSize(url, size * 2)} 2x`, alt,
    width: size, height: size, loading: 'lazy', decoding: 'async',
  });
}

/** The classifier label a search "why" line names first, e.g. "cat: tabby 0.71, ..." -> "tabby". */
function whyTag(why) {
  for (const line of why || []) {
    // words read in the picture ("invoice: in its text 0.80", "text: [Invoice] ...") name no tag
    if (/^[^:]+: in its text \d/.test(line) || (line.startsWith('text: ') && line.includes('['))) continue;
    const m = /^[^:]+:\s*(.+?)\s+\d(?:\.\d+)?(?:,|$)/.exec(line);
    if (m) return m[1];
  }
  return '';
}

function topTag(item) {
  const tags = item.image.tags;
  if (Array.isArray(tags) && tags.length) return tags[0].name;
  return whyTag(item.why);
}

export function altText(item) {
  const tag = topTag(item);
  return tag ? `${item.image.name}, ${tag}` : item.image.name;
}
