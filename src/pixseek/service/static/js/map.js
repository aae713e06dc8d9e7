// Places: a map of the user's geotagged photos and the list of their places. The map is drawn
// here, offline: an equirectangular latitude/longitude grid (no map tiles, no CDN, no world
// outline), with the photos grouped into clusters by /api/places/map; a cluster opens the photos
// taken in its place, a place of the list too (a search for in:"Lisbon").

import { el, h, plural } from './dom.js';
import { api, report } from './api.js';
import { thumbUrl } from './pictures.js';
import { onNavClick, openPage, pageStatus } from './grid.js';
import { runSearch } from './searchbar.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const HEIGHT = 360;
const CELLS = [20, 10, 5, 2, 1]; // cluster cell sizes, degrees: the map's zoom steps

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const x = (lon) => ((lon + 180) / 360) * WIDTH;
const y = (lat) => ((90 - lat) / 180) * HEIGHT;

export async function showMap({ fromUrl = false, zoom = 0 } = {}) {
  const signal = openPage('places', 'Places', 'Loading…', fromUrl);
  let map;
  let places;
  try {
    [map, places] = await Promise.all([
      api(`/api/places/map?cell=${CELLS[zoom]}`, { signal }),
      api('/api/places', { signal }),
    ]);
  } catch (err) {
    if (signal.aborted) return;
    pageStatus('Places', 'Could not load the map.');
    report(err);
    return;
  }
  if (signal.aborted) return;
  render(map, places.places, zoom);
}

function render(map, places, zoom) {
  const summary = map.points
    ? `${plural(map.points, 'geotagged photo')} in ${plural(places.length, 'place')}`
    : 'No geotagged photos yet: photos with a GPS position in their EXIF data appear here.';
  const zoomButtons = h('span', { class: 'chips' },
    h('button', { type: 'button', class: 'chip', disabled: zoom === 0, 'data-testid': 'map-zoom-out', onclick: () => showMap({ fromUrl: true, zoom: zoom - 1 }) }, 'Larger groups'),
    h('button', { type: 'button', class: 'chip', disabled: zoom === CELLS.length - 1, 'data-testid': 'map-zoom-in', onclick: () => showMap({ fromUrl: true, zoom: zoom + 1 }) }, 'Smaller groups'));
  el.context.replaceChildren(h('h1', { class: 'title' }, 'Places'), h('span', { 'data-testid': 'places-summary' }, summary), zoomButtons);
  const largest = Math.max(1, ...map.clusters.map((c) => c.count));
  const grid = [];
  for (let lon = -180; lon <= 180; lon += 30) grid.push(svg('line', { x1: x(lon), y1: 0, x2: x(lon), y2: HEIGHT, class: lon === 0 ? 'axis' : '' }));
  for (let lat = -90; lat <= 90; lat += 30) grid.push(svg('line', { x1: 0, y1: y(lat), x2: WIDTH, y2: y(lat), class: lat === 0 ? 'axis' : '' }));
  const labels = [-60, -30, 0, 30, 60].map((lat) => svg('text', { x: 4, y: y(lat) - 3, class: 'map-label' }, `${lat}°`));
  const dots = map.clusters.map((cluster) => {
    const r = 4 + 10 * Math.sqrt(cluster.count / largest);
    const where = cluster.image.place || `${cluster.lat.toFixed(2)}, ${cluster.lon.toFixed(2)}`;
    const title = svg('title', null, `${plural(cluster.count, 'photo')} · ${where}`);
    const dot = svg('g', { class: 'cluster', tabindex: 0, role: 'button', 'data-testid': 'map-cluster', 'data-count': cluster.count,
      'aria-label': `${plural(cluster.count, 'photo')} near ${where}` },
    title,
    svg('circle', { cx: x(cluster.lon), cy: y(cluster.lat), r }),
    svg('text', { x: x(cluster.lon), y: y(cluster.lat) + 4, class: 'count' }, String(cluster.count)));
    const open = () => {
      const city = (cluster.image.place || '').split(', ')[0];
      if (city) {
        el.searchInput.value = `in:"${city}"`;
        runSearch(el.searchInput.value);
      }
    };
    dot.addEventListener('click', open);
    dot.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); open(); } });
    return dot;
  });
  const drawing = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'map', 'data-testid': 'map', role: 'img',
    'aria-label': 'Your geotagged photos on a latitude/longitude grid' },
  svg('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: 'sea' }), ...grid, ...labels, ...dots);
  const list = h('ul', { class: 'chips places-list', 'data-testid': 'places-list' },
    places.map((p) => h('li', null, h('button', {
      type: 'button', class: 'chip', 'data-testid': 'place',
      onclick: () => { el.searchInput.value = p.query; runSearch(p.query); },
    }, `${p.place} · ${p.images}`))));
  const thumbs = map.clusters.slice(0, 12).map((c) => h('img', { class: 'ctx-thumb', src: thumbUrl(c.image, 128), alt: '', loading: 'lazy' }));
  el.grid.replaceChildren(h('li', { class: 'map-view' }, drawing, list, h('div', { class: 'map-thumbs' }, thumbs)));
}

onNavClick(document.getElementById('places-link'), () => showMap());
