// The entry of the served `spoor.js`. scripts/build-beacon.sh bundles it with
// wasm-bindgen's `--target web` glue (`./spoor.js` here, in target/beacon/) and minifies
// the result.
//
// This file is the browser wiring; the decisions live in Rust (see the `//!` docs of
// beacon/src/lib.rs for why the work is split this way). It:
// - defines `window.spoor` at once, queueing calls until the wasm is ready, then replays
//   them in order;
// - reads the script tag and the Do Not Track / Global Privacy Control signals;
// - reports navigations (patched pushState/replaceState, popstate, hashchange with
//   data-hash="true", the Navigation API, back/forward-cache restores): Rust decides which
//   are page views;
// - measures visible time and the deepest scroll, and hands them over when the page hides
//   (visibilitychange→hidden, pagehide; never unload) or is replaced by a navigation;
// - reports link clicks (Rust picks outbound links and downloads);
// - sends what Rust hands back: with fetch while the page lives (the status goes back to
//   Rust, which keeps or drops the batch), with sendBeacon when the page hides. Before
//   consent, only fetch with `credentials: "omit"`, so no cookie is stored.
// A failure (an old browser, wasm blocked by a Content-Security-Policy, a network error)
// must not surface on the host page, so it is swallowed. If the wasm never started (it
// could not be fetched, compiled or booted), `fallback` still sends this page view: one
// event with no visitor or session id, sent without credentials (so the collector counts
// it for the cookieless daily visitor), marked `nowasm` with the error as text
// ("CompileError: … Content Security Policy …"), which the collector sorts into a few
// reasons (collector/src/payload/fallback.rs). The privacy switches hold: DNT/GPC under
// data-respect-dnt and a stored opt-out send nothing. Nothing is stored, so sending before
// consent is fine.
import init, * as w from './spoor.js';

const calls = [];
let ready;
// `control` operation numbers: see `control` in beacon/src/lib.rs.
const ops = { reset: 0, consent: 1, optOut: 3, optIn: 4 };
const run = (name, [a, b]) => {
    if (name == 'track') {
        for (const k in b) {
            const v = b[k], t = typeof v;
            if (t == 'string') w.prop(k, v, false);
            else if (t == 'boolean' || (t == 'number' && isFinite(v))) w.prop(k, String(v), true);
        }
        w.custom(String(a), false);
    } else if (name == 'identify') b && b.signature && w.prop('sig', String(b.signature), false), w.custom(String(a), true);
    else w.control(ops[name] + (name == 'consent' && !!a));
};
const api = (window.spoor = {});
for (const name of ['track', 'identify', ...Object.keys(ops)]) {
    api[name] = (...args) => {
        try {
            ready ? run(name, args) : calls.push([name, args]);
        } catch {}
    };
}

const script = document.querySelector('script[data-site]');
const data = script && script.dataset;
const nav = navigator;
const doc = document;
const perf = performance;
const on = (type, f, target = window) => target.addEventListener(type, f, { capture: true, passive: true });
let endpoint;
let visible = 0; // visible ms not yet handed to Rust
let since = 0; // when the page last became visible; 0 while hidden
let depth = 0; // deepest scroll of this view, percent

const elapsed = () => {
    if (since) {
        const t = perf.now();
        visible += t - since;
        since = t;
    }
    return visible;
};
const scrolled = () => {
    const h = doc.documentElement.scrollHeight;
    depth = Math.max(depth, h ? Math.min(100, Math.round(((scrollY + innerHeight) * 100) / h)) : 100);
};
const show = () => {
    if (!since && doc.visibilityState == 'visible') since = perf.now();
};
// A page with an opaque origin (a sandboxed frame: `origin` is 'null') has no cookies, and
// the collector answers it without credentials (collector/src/cors.rs): sent with them,
// the answer could not be read and the batch would be sent again and again.
const post = (body, creds) =>
    fetch(endpoint, { method: 'POST', body, keepalive: true, credentials: creds && origin != 'null' ? 'include' : 'omit' });
const pump = () => {
    const body = w.next(false);
    if (body)
        post(body, w.creds())
            .then((r) => r.status, () => 0)
            .then((status) => {
                w.ack(status);
                pump();
            });
};
const hide = () => {
    elapsed();
    since = 0;
    w.engage(visible, depth);
    visible = 0;
    const creds = w.creds();
    let body;
    while ((body = w.next(true)))
        if (!(creds && nav.sendBeacon(endpoint, body))) post(body, creds).catch(() => {});
};
const page = (restored) => {
    if (w.page(location.href, doc.title, restored === true, elapsed(), depth)) {
        visible = depth = 0;
        scrolled();
        pump();
    }
};
const later = () => setTimeout(page);
const size = screen.width + 'x' + screen.height;
const dnt = nav.doNotTrack == '1' || nav.globalPrivacyControl === true;
const fallback = (e) => {
    let out;
    try {
        out = localStorage.spoor_opt_out;
    } catch {}
    try {
        if (endpoint && !ready && !out && !(dnt && 'respectDnt' in data))
            post(
                JSON.stringify({
                    site: data.site,
                    events: [
                        {
                            id: crypto.randomUUID(),
                            type: 'pageview',
                            url: location.href,
                            referrer: doc.referrer,
                            title: doc.title,
                            ts: Date.now(),
                            screen: size,
                            nowasm: '' + e,
                        },
                    ],
                }),
            ).catch(() => {});
    } catch {}
};

if (data) {
    // In the promise, so that an unusable data-endpoint is swallowed like any failure (and
    // leaves `endpoint` unset, so the fallback sends nothing either).
    new Promise((ok) => {
        endpoint = new URL(data.endpoint || '/collect', script.src || location.href).href;
        ok(init());
    })
        .then(() => {
            w.boot(
                (data.consent == 'required') |
                    (('respectDnt' in data) << 1) |
                    (dnt << 2) |
                    ((data.hash == 'true') << 3),
                // See `boot` in beacon/src/lib.rs; `join` writes undefined as ''.
                [
                    location.href,
                    doc.title,
                    doc.referrer,
                    size,
                    nav.language,
                    Intl.DateTimeFormat().resolvedOptions().timeZone,
                    data.site,
                    data.downloads,
                ].join('\n'),
            );
            ready = 1;
            show();
            scrolled();
            for (const [name, args] of calls) api[name](...args);
            for (const m of ['pushState', 'replaceState']) {
                const original = history[m];
                history[m] = function () {
                    const result = original.apply(this, arguments);
                    later();
                    return result;
                };
            }
            on('popstate', later);
            if (data.hash == 'true') on('hashchange', later);
            if (window.navigation) on('navigatesuccess', later, navigation);
            on('pageshow', (e) => e.persisted && (show(), page(true)));
            on('visibilitychange', () => (doc.visibilityState == 'hidden' ? hide() : (show(), pump())), doc);
            on('pagehide', hide);
            on('scroll', scrolled);
            const click = (e) => {
                const a = e.target.closest && e.target.closest('a[href]');
                if (a) w.link(String(a.href));
            };
            on('click', click);
            on('auxclick', click);
            on('online', () => (w.online(), pump()));
            setInterval(pump, 1000);
            pump();
        })
        .catch(fallback);
}

export default init;
