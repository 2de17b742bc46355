/**
 * The in-browser playground at `GET /graphql` and `GET /graphql/playground`: GraphiQL
 * (npm `graphiql`, its UMD build) on React (npm `react`, `react-dom`), every file served by
 * dbx itself from the installed packages, so it works with no internet. The page has a
 * field for the bearer token; GraphiQL's own Headers tab works too. The page and its
 * static files need no token (a browser cannot send one when it opens a URL); every
 * GraphQL request made from it does.
 *
 * A compiled `dbx` must carry the package files: `deno compile --include` each path of
 * {@link PLAYGROUND_FILES}.
 */

/** The files GraphiQL needs, relative to the project root (for `deno compile --include`). */
export const PLAYGROUND_FILES = [
  "node_modules/graphiql/graphiql.min.js",
  "node_modules/graphiql/graphiql.min.css",
  "node_modules/react/umd/react.production.min.js",
  "node_modules/react-dom/umd/react-dom.production.min.js",
] as const;

interface Asset {
  type: string;
  /** A package file (relative to the project root), or the text itself. */
  file?: string;
  text?: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** The page's own script: the token field, the fetcher, GraphiQL mounted. */
const PAGE_SCRIPT = `"use strict";
(function () {
  var STORAGE_KEY = "dbx-graphql-token";
  var path = location.pathname.replace(/\\/+$/, "");
  var endpoint = /\\/playground$/.test(path) ? path.slice(0, -"/playground".length) : path;
  var field = document.getElementById("dbx-token");
  var status = document.getElementById("dbx-token-status");
  var token = "";
  try { token = sessionStorage.getItem(STORAGE_KEY) || ""; } catch (e) { /* storage off */ }
  field.value = token;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var generation = 0;

  function hasAuthorization(headers) {
    return Object.keys(headers).some(function (name) {
      return name.toLowerCase() === "authorization";
    });
  }

  function fetcher(params, options) {
    var headers = { "content-type": "application/json", accept: "application/json" };
    var extra = (options && options.headers) || {};
    Object.keys(extra).forEach(function (name) { headers[name] = extra[name]; });
    if (token && !hasAuthorization(extra)) headers.authorization = "Bearer " + token;
    return fetch(endpoint, {
      method: "POST",
      headers: headers,
      body: JSON.stringify(params),
      credentials: "omit",
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          return { errors: [{ message: "HTTP " + response.status + ": " + text }] };
        }
      });
    });
  }

  function mount() {
    generation += 1;
    status.textContent = token ? "token set" : "no token: GraphQL requests will be refused";
    root.render(React.createElement(GraphiQL, {
      key: "dbx-" + generation,
      fetcher: fetcher,
      defaultQuery: "# Enter a token above, then run this query (Ctrl-Enter).\\n" +
        "query Aggregates {\\n  aggregates(take: 10) {\\n    aggregateType\\n    aggregateId\\n" +
        "    version\\n  }\\n}\\n",
    }));
  }

  document.getElementById("dbx-token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    token = field.value.trim();
    try {
      if (token) sessionStorage.setItem(STORAGE_KEY, token);
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) { /* storage off */ }
    mount();
  });
  mount();
})();
`;

const PAGE_STYLE = `html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
.dbx-bar { display: flex; gap: 8px; align-items: center; padding: 6px 12px;
  border-bottom: 1px solid #ddd; background: #f7f7f8; font-size: 14px; }
.dbx-bar strong { margin-right: 8px; }
#dbx-token { width: 28em; max-width: 50vw; font-family: monospace; }
#dbx-token-status { color: #666; }
#graphiql { flex: 1; min-height: 0; }
`;

const ASSETS: Record<string, Asset> = {
  "graphiql.min.js": { type: JS, file: PLAYGROUND_FILES[0] },
  "graphiql.min.css": { type: CSS, file: PLAYGROUND_FILES[1] },
  "react.production.min.js": { type: JS, file: PLAYGROUND_FILES[2] },
  "react-dom.production.min.js": { type: JS, file: PLAYGROUND_FILES[3] },
  "playground.js": { type: JS, text: PAGE_SCRIPT },
  "playground.css": { type: CSS, text: PAGE_STYLE },
};

/** The page at a path: `prefix` leads from it to the asset folder. */
function page(prefix: string): string {
  const script = (name: string) => `<script src="${prefix}${name}"></script>`;
  const style = (name: string) => `<link rel="stylesheet" href="${prefix}${name}">`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EventDBX GraphQL playground</title>
<link rel="icon" href="data:,">
${style("graphiql.min.css")}
${style("playground.css")}
</head>
<body>
<form id="dbx-token-form" class="dbx-bar" autocomplete="off">
<strong>EventDBX GraphQL</strong>
<label for="dbx-token">Bearer token</label>
<input id="dbx-token" name="token" type="password" autocomplete="off" placeholder="paste a token (dbx token generate)" spellcheck="false">
<button id="dbx-token-apply" type="submit">Use token</button>
<span id="dbx-token-status"></span>
</form>
<div id="graphiql">Loading the playground…</div>
${script("react.production.min.js")}
${script("react-dom.production.min.js")}
${script("graphiql.min.js")}
${script("playground.js")}
</body>
</html>
`;
}

/** Nothing but this server: the page loads no script, style or data from elsewhere. */
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self' " +
    "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const PROJECT_ROOT = new URL("../../", import.meta.url);
const loaded = new Map<string, Promise<Uint8Array>>();

function assetBytes(name: string, asset: Asset): Promise<Uint8Array> {
  let bytes = loaded.get(name);
  if (!bytes) {
    bytes = asset.text !== undefined
      ? Promise.resolve(new TextEncoder().encode(asset.text))
      : Deno.readFile(new URL(asset.file!, PROJECT_ROOT));
    // A failed read is tried again next time (it says why each time).
    bytes.catch(() => loaded.delete(name));
    loaded.set(name, bytes);
  }
  return bytes;
}

/**
 * The playground page; `underPlayground` for `/graphql/playground` (its assets are then
 * one level closer).
 *
 * @example
 * ```ts
 * const response = playgroundPage(false, false);
 * response.headers.get("content-type"); // "text/html; charset=utf-8"
 * ```
 */
export function playgroundPage(underPlayground: boolean, head: boolean): Response {
  const html = page(underPlayground ? "assets/" : "graphql/assets/");
  return new Response(head ? null : html, { status: 200, headers: PAGE_HEADERS });
}

/**
 * One of the playground's static files (`/graphql/assets/<name>`), or 404.
 *
 * @example
 * ```ts
 * const response = await playgroundAsset("playground.js", false);
 * response.status; // 200
 * ```
 */
export async function playgroundAsset(name: string, head: boolean): Promise<Response> {
  const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!asset) {
    return new Response(`no playground file ${name}\n`, {
      status: 404,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  let bytes: Uint8Array;
  try {
    bytes = await assetBytes(name, asset);
  } catch {
    return new Response(
      `the playground file ${asset.file} is missing from this build of dbx ` +
        "(run `deno install`, or compile with --include for it)\n",
      { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  }
  return new Response(head ? null : bytes as Uint8Array<ArrayBuffer>, {
    status: 200,
    headers: {
      "content-type": asset.type,
      "content-length": String(bytes.byteLength),
      "cache-control": "public, max-age=3600",
      "x-content-type-options": "nosniff",
    },
  });
}
