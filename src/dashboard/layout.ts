/**
 * The page around every dashboard page: the header with its navigation, the notice an
 * action left (`?done=<code>`: only the fixed texts below are ever shown, so a crafted link
 * cannot put words on the page), the stylesheet and the script with this response's nonce.
 */
import { dashboardAssets } from './assets.js';
import type { DashboardContext } from './dashboard-context.js';
import { html, type Html } from './html.js';

/** What an action's redirect can announce (`?done=`), by code. */
export const notices: Record<string, string> = {
  redelivered: 'The delivery was queued to be sent again.',
  skipped: 'The delivery was skipped: the next deliveries of its ordering key go on without it.',
  replayed: 'The replay was queued.',
  disabled: 'The subscription was disabled: its deliveries are held until it is enabled.',
  enabled: 'The subscription was enabled.',
  'enabled-and-replayed': 'The subscription was enabled, and the events it missed while disabled were queued.',
  updated: 'The subscription was saved.',
  deleted: 'The subscription was deleted.',
  removed: 'The subscription was removed with its deliveries, attempts and change log.',
  tested: 'The test event was sent.',
};

interface NavItem {
  label: string;
  path: string;
  operatorOnly?: boolean;
}

const navigation: NavItem[] = [
  { label: 'Overview', path: '/', operatorOnly: true },
  { label: 'Subscriptions', path: '/subscriptions' },
  { label: 'Deliveries', path: '/deliveries' },
];

function isCurrent(context: DashboardContext, path: string): boolean {
  const here = context.url.pathname.slice(context.basePath.length) || '/';
  return path === '/' ? here === '/' : here === path || here.startsWith(`${path}/`);
}

/** What every document needs, with or without a principal: links under the base path, the site title, the nonce. */
type Chrome = Pick<DashboardContext, 'href' | 'title' | 'nonce'>;

function documentOf(chrome: Chrome, title: string, header: Html, main: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · ${chrome.title}</title>
<link rel="stylesheet" href="${chrome.href(`/assets/${dashboardAssets.css.name}`)}">
<script nonce="${chrome.nonce}" src="${chrome.href(`/assets/${dashboardAssets.js.name}`)}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
${header}
</header>
<main id="main">
${main}
</main>
</body>
</html>`;
}

/** The whole HTML document of a page. */
export function layout(context: DashboardContext, title: string, body: Html): Html {
  const portal = context.tenantId !== undefined;
  const done = context.url.searchParams.get('done');
  const notice = done === null || !Object.hasOwn(notices, done) ? undefined : notices[done];
  const items = navigation
    .filter((item) => !(portal && item.operatorOnly))
    .map((item) => {
      const label = portal && item.path === '/subscriptions' ? 'Endpoints' : item.label;
      return html`<a href="${context.href(item.path)}"${isCurrent(context, item.path) ? html` aria-current="page"` : ''}>${label}</a>`;
    });
  const who = context.principal.name ?? context.principal.actor;
  const header = html`<a class="brand" href="${context.href(portal ? '/subscriptions' : '/')}">${context.title}</a>
<nav aria-label="Sections">${items}</nav>
<span class="who">${who}${portal ? html` · tenant <span class="mono">${context.tenantId}</span>` : ''}${context.readOnly ? ' · read only' : ''}</span>`;
  return documentOf(context, title, header, html`${notice === undefined ? '' : html`<p class="notice" role="status">${notice}</p>`}
${body}`);
}

/**
 * The document of a refusal made before anyone is known (authorize or scope said no, or
 * failed): no navigation, no name, nothing read from the instance.
 */
export function refusalDocument(chrome: Chrome, status: number, code: string, message: string): Html {
  return documentOf(chrome, 'Error', html`<span class="brand">${chrome.title}</span>`, errorBody(status, code, message));
}

/** The page of a refusal or failure: its status, code and message. */
export function errorBody(status: number, code: string, message: string): Html {
  return html`<h1>${status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status >= 500 ? 'Something went wrong' : 'That did not work'}</h1>
<p class="notice error" role="alert"><span class="mono">${code}</span>: ${message}</p>`;
}
