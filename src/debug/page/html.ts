/**
 * The mesh page's HTML shell. It holds no data (the script fetches
 * /debug/mesh), so it is served without the debug token; the token form is
 * how a browser, which cannot add a header to a navigation, gets it.
 */
export const MESH_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>mini-pilot mesh</title>
<link rel="stylesheet" href="/mesh.css">
<script src="/mesh.js" defer></script>
</head>
<body>
<header>
  <h1>mini-pilot mesh</h1>
  <span id="status" class="status">loading…</span>
</header>
<form id="token-form" hidden>
  <p>This debug port wants the bearer token serve was given with <code>--debug-token-file</code>.
  It is kept in this tab only (sessionStorage) and sent as an Authorization header.</p>
  <input id="token" type="password" autocomplete="off" placeholder="token">
  <button type="submit">Open</button>
</form>
<main id="content">
  <section><h2>Routes</h2><div id="graph" class="graph"></div></section>
  <section><h2>Services</h2><table id="services"></table></section>
  <section><h2>Proxies</h2><table id="proxies"></table></section>
  <section><h2>Gateways</h2><table id="gateways"></table></section>
  <section><h2>Diagnostics</h2><ul id="diagnostics"></ul></section>
</main>
</body>
</html>
`;
