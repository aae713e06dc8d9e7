// The HTTP API (docs/http-api.md): fetch helpers, the CSRF header, errors.

import { el, sentence } from './dom.js';
import { toast } from './toast.js';
import { onUnauthorized } from './session.js';

// Sent on every API request: the server refuses cookie-authenticated writes without it (CSRF check).
export const CSRF = ['X-Requested-With', 'pixseek'];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The human message of an error answer: `detail` (a string, or FastAPI's list of validation errors). */
export function detailText(body, status, statusText) {
  const detail = body && typeof body === 'object' ? body.detail : null;
  if (typeof detail === 'string' && detail) return sentence(detail);
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((d) => {
        if (!d || typeof d !== 'object') return String(d);
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => !['body', 'query', 'path'].includes(p)).join('.') : '';
        return where ? `${where}: ${d.msg}` : d.msg;
      })
      .join('; ');
  }
  if (status === 413) return 'The upload is too large for the server.';
  if (status >= 500) return `The server had a problem (${status}). Try again, or check the server log.`;
  return `Request failed (${status}${statusText ? ` ${statusText}` : ''}).`;
}

let busyCount = 0;
function busy(delta) {
  busyCount = Math.max(0, busyCount + delta);
  el.loading.hidden = busyCount === 0;
}

/** fetch() a JSON API route. Throws ApiError with the server's `detail`; AbortError passes through. */
export async function api(path, { method = 'GET', json, form, signal, quiet = false, auth = true } = {}) {
  const init = { method, signal, credentials: 'same-origin', headers: { Accept: 'application/json', [CSRF[0]]: CSRF[1] } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  if (!quiet) busy(1);
  try {
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'Cannot reach the pixseek server. Is it still running?');
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 401 && auth) onUnauthorized();
      throw new ApiError(response.status, detailText(body, response.status, response.statusText));
    }
    return body;
  } finally {
    if (!quiet) busy(-1);
  }
}

export function report(err, prefix = '') {
  if (!err || err.name === 'AbortError') return;
  if (err.status === 401) return; // the sign-in form is already showing
  console.error(err);
  toast(`${prefix}${err.message || err}`, { kind: 'error' });
}
