/**
 * The dashboard's stylesheet and script, served from its own path with a content hash in
 * the name (cached for a year): no CDN, no web font, no framework. The script only adds to
 * pages that work without it — confirmations before an action, copying a secret, times in
 * the reader's zone, the overview's refresh.
 */
const css = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--accent:#0b57d0;--ok:#1a7f37;--warn:#9a6700;--bad:#c5221f;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
body{margin:0;line-height:1.45;font-size:15px}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:2}
header.top{display:flex;gap:24px;align-items:center;padding:10px 24px;border-bottom:1px solid var(--line);background:var(--soft);flex-wrap:wrap}
header.top .brand{font-weight:700;font-size:17px;color:var(--fg);text-decoration:none}
header.top nav{display:flex;gap:16px}
header.top nav a{text-decoration:none;color:var(--fg);padding:4px 2px;border-bottom:2px solid transparent}
header.top nav a[aria-current=page]{border-color:var(--accent);font-weight:600}
header.top .who{margin-left:auto;color:var(--muted)}
main{padding:16px 24px 48px;max-width:1280px}
h1{font-size:22px;margin:8px 0 16px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:20px 0 6px}
.notice{padding:8px 12px;border:1px solid var(--ok);background:#eef8f0;border-radius:6px;margin:8px 0 16px}
.notice.error{border-color:var(--bad);background:#fdf0ef}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin:8px 0 16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .label{color:var(--muted);font-size:13px}.card .value{font-size:22px;font-weight:600}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
caption{text-align:left;font-weight:600;padding:4px 0}
table:has(> caption){width:auto;min-width:360px}
td .mono,td.mono{font-size:12px}
td a.mono{overflow-wrap:anywhere}
td pre{margin:0;padding:4px 6px;max-height:160px}
th{background:var(--soft);font-weight:600;font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid var(--line)}
.badge.delivered,.badge.active,.badge.closed{color:var(--ok);border-color:var(--ok)}
.badge.pending,.badge.held,.badge.half-open,.badge.expiring{color:var(--warn);border-color:var(--warn)}
.badge.dead,.badge.disabled,.badge.open,.badge.cancelled,.badge.deleted,.badge.expired{color:var(--bad);border-color:var(--bad)}
form.inline{display:inline}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin:8px 0 12px}
label{display:block;font-size:14px;font-weight:600;margin-bottom:2px}
label:has(> input[type=checkbox]){display:inline-flex;align-items:center;gap:6px;min-height:28px;margin:0 16px 0 0;font-weight:400}
input[type=checkbox]{width:18px;height:18px;margin:0}
.field>.muted{font-size:13px}
fieldset{border:1px solid var(--line);border-radius:6px;margin:0 0 12px;padding:6px 12px 10px}
legend{font-size:14px;font-weight:600;padding:0 4px}
input,select,textarea{font:inherit;padding:5px 8px;border:1px solid #8c959f;border-radius:6px;background:var(--bg);color:var(--fg)}
textarea{width:100%;min-height:80px;box-sizing:border-box}
.field{margin:0 0 12px}
button,.button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #8c959f;background:var(--soft);color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--bad);border-color:var(--bad)}
.actions{display:flex;gap:8px;flex-wrap:wrap;margin:8px 0 16px}
.muted{color:var(--muted)}
.secret{font-size:15px;padding:8px 10px;border:1px dashed var(--warn);background:#fff8e6;display:inline-block;word-break:break-all}
.pager{display:flex;gap:12px;margin:12px 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.chart svg{max-width:100%;height:auto}
.chart-axis{stroke:#57606a}.chart-grid{stroke:#d0d7de}
`;

const js = `
(function(){
  document.addEventListener('submit',function(e){
    var f=e.target;var q=f&&f.getAttribute('data-confirm');
    if(q&&!window.confirm(q)){e.preventDefault();}
  });
  document.addEventListener('click',function(e){
    var b=e.target&&e.target.closest&&e.target.closest('[data-copy]');
    if(!b)return;
    var t=document.getElementById(b.getAttribute('data-copy'));
    if(t&&navigator.clipboard){navigator.clipboard.writeText(t.textContent||'').then(function(){b.textContent='Copied';},function(){});}
  });
  var fmt=new Intl.DateTimeFormat(undefined,{dateStyle:'medium',timeStyle:'medium'});
  document.querySelectorAll('time[datetime]').forEach(function(el){
    var d=new Date(el.getAttribute('datetime'));
    if(!isNaN(d.getTime())){el.title=el.getAttribute('datetime');el.textContent=fmt.format(d);}
  });
  var r=document.querySelector('[data-refresh-seconds]');
  if(r){var s=Number(r.getAttribute('data-refresh-seconds'));
    if(s>0)setInterval(function(){if(document.visibilityState==='visible')location.reload();},s*1000);}
  document.querySelectorAll('[data-copy]').forEach(function(b){b.hidden=false;});
})();
`;

/** FNV-1a over the text, as hex: enough to change the name when the content changes (no `node:` API, so the handler runs on any runtime). */
function contentHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

function asset(body: string, type: string): { name: string; body: string; type: string } {
  const hash = contentHash(body);
  const extension = type.startsWith('text/css') ? 'css' : 'js';
  return { name: `dashboard.${hash}.${extension}`, body, type };
}

/** The stylesheet and the script, by file name (with the hash of their content). */
export const dashboardAssets = {
  css: asset(css.trim(), 'text/css; charset=utf-8'),
  js: asset(js.trim(), 'text/javascript; charset=utf-8'),
} as const;
