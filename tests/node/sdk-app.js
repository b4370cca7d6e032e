// An Express 4 app instrumented by a real npm Treblle SDK ("treblle" 1.5.2 or "@treblle/express" 1.0.2,
// argv[2]); run by tests/test_treblle_sdk.py with redirect-fetch.js preloaded. It calls itself once, waits
// for the SDK's POST to the collector to be answered, and prints that answer as one line:
// COLLECTOR {"status": 200, "body": {...}}
"use strict";
const express = require("express");

const sdk = process.argv[2];
const apiKey = process.env.TREBLLE_SDK_TOKEN; // the SDKs' "apiKey" is the token sent as x-api-key
const projectId = process.env.TREBLLE_API_KEY; // and their "projectId" names the API

const app = express();
app.use(express.json());
if (sdk === "treblle") {
  require("treblle").useTreblle(app, { apiKey, projectId });
} else if (sdk === "@treblle/express") {
  app.use(require("@treblle/express")({ apiKey, projectId }));
} else {
  throw new Error(`unknown SDK ${sdk}; use treblle or @treblle/express`);
}
app.get("/api/orders", (req, res) => res.json({ orders: [] }));

async function firstPost(timeoutMs) {
  const { posts } = globalThis.treblleRedirect;
  const deadline = Date.now() + timeoutMs;
  while (posts.length === 0) {
    if (Date.now() > deadline) {
      throw new Error(`the SDK posted nothing within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return posts[0];
}

const server = app.listen(0, "127.0.0.1", async () => {
  try {
    const { port } = server.address();
    const reply = await fetch(`http://127.0.0.1:${port}/api/orders`, { headers: { "treblle-user-id": "cust_node" } });
    await reply.text();
    const answer = await firstPost(10000);
    console.log("COLLECTOR " + JSON.stringify({ status: answer.status, body: await answer.json() }));
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    server.close();
    server.closeAllConnections();
  }
});
