// A video's frame in the photo view: the video itself, opened at the frame's second.

import { h } from './dom.js';
import { thumbUrl } from './pictures.js';

/** Show `image` (a search hit in a video) as its video at the hit's time; a picture: the img. */
export function showVideo(image, img) {
  let video = document.getElementById('viewer-video');
  if (!image.video) {
    hideVideo();
    return;
  }
  if (!video) {
    video = h('video', { id: 'viewer-video', class: 'viewer-img', controls: true, preload: 'metadata', playsinline: true, 'data-testid': 'photo-view-video' });
    img.after(video);
  }
  const seconds = image.video.seconds;
  video.poster = thumbUrl(image, 512);
  video.src = `${image.original}#t=${seconds}`; // the media fragment; currentTime too, for servers of old
  video.addEventListener('loadedmetadata', () => {
    if (Math.abs(video.currentTime - seconds) > 0.5) video.currentTime = seconds;
  }, { once: true });
  img.hidden = true;
}

export function hideVideo() {
  const video = document.getElementById('viewer-video');
  if (video) {
    video.pause();
    video.removeAttribute('src');
    video.load();
    video.remove();
  }
  const img = document.getElementById('viewer-img');
  if (img) img.hidden = false;
}
