// Preloaded with `node -r ./redirect-fetch.js`: the npm Treblle SDKs hard-code their URL and post with
// node-fetch, so node-fetch is replaced in require.cache by Node's own fetch aimed at
// CLIENTELE_COLLECTOR_URL. Every POST is kept in globalThis.treblleRedirect.posts for the app to await.
"use strict";
const Module = require("module");

const target = process.env.CLIENTELE_COLLECTOR_URL;
if (!target) {
  throw new Error("set CLIENTELE_COLLECTOR_URL to the collector's URL");
}
const posts = [];

function redirectedFetch(_url, options) {
  const post = fetch(target, options);
  posts.push(post);
  return post;
}
redirectedFetch.default = redirectedFetch;

const id = require.resolve("node-fetch", { paths: [__dirname] });
const replacement = new Module(id);
replacement.filename = id;
replacement.loaded = true;
replacement.exports = redirectedFetch;
require.cache[id] = replacement;
globalThis.treblleRedirect = { posts };
