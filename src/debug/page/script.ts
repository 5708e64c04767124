/**
 * The mesh page's script, plain ES2017 for any current browser, no libraries.
 * It polls /debug/mesh and redraws. Every value from the server goes into the
 * DOM as text (textContent, SVG text nodes), never as markup: proxy ids and
 * NACK messages come from clients and could carry HTML.
 *
 * The token: `#token=...` in the address (the fragment never reaches a
 * server or a log; it is moved to sessionStorage and wiped from the address
 * bar at once), or the form shown after a 401.
 *
 * Kept in a TypeScript string so `dist/src` ships it without a copy step;
 * hence no backticks or dollar-brace sequences below.
 */
export const MESH_JS = String.raw`"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var params = new URLSearchParams(location.search);
  var every = Math.max(250, Number(params.get("refresh")) || 2000);
  var token = sessionStorage.getItem("mini-pilot-token") || "";
  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem("mini-pilot-token", token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function table(t, head, rows) {
    t.replaceChildren();
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    t.appendChild(tr);
    if (rows.length === 0) {
      var empty = el("tr");
      empty.appendChild(el("td", { colspan: head.length, class: "empty" }, "none"));
      t.appendChild(empty);
    }
    rows.forEach(function (r) { t.appendChild(r); });
  }
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el("td", {}, c)); });
    return tr;
  }
  function short(host) { return host.replace(/\.svc\.cluster\.local$/, ""); }

  function drawServices(services) {
    table($("services"), ["service", "namespace", "ports", "versions (healthy/endpoints)", "VirtualServices"], services.map(function (s) {
      var versions = s.versions.map(function (v) { return (v.version || "(no version)") + ": " + v.healthy + "/" + v.endpoints; }).join(", ");
      var tr = row([s.name, s.namespace, s.ports.map(function (p) { return p.port + "/" + p.protocol; }).join(" "), versions || "no endpoints", s.virtualServices.join(" ") || "-"]);
      tr.setAttribute("data-host", s.host);
      return tr;
    }));
  }

  var TYPES = ["clusters", "endpoints", "listeners", "routes"];
  function drawProxies(proxies) {
    var types = TYPES.slice();
    proxies.forEach(function (p) { Object.keys(p.types).forEach(function (t) { if (types.indexOf(t) < 0) types.push(t); }); });
    table($("proxies"), ["proxy", "connected"].concat(types), proxies.map(function (p) {
      var cells = [p.proxy || "(no node id yet)", p.connectedAt];
      types.forEach(function (t) {
        var s = p.types[t];
        var td = el("td", { class: s ? s.status : "NOT_SENT", "data-type": t }, s ? s.status : "NOT_SENT");
        if (s && s.status === "ERROR" && s.lastError) td.appendChild(el("span", { class: "nack" }, "NACK: " + s.lastError.message));
        cells.push(td);
      });
      var tr = row(cells);
      tr.setAttribute("data-proxy", p.proxy || "");
      return tr;
    }));
  }

  function drawGateways(gateways) {
    table($("gateways"), ["gateway", "selector", "servers"], gateways.map(function (g) {
      var sel = Object.keys(g.selector).map(function (k) { return k + "=" + g.selector[k]; }).join(",");
      var servers = g.servers.map(function (s) { return s.port + "/" + s.protocol + " " + s.hosts.join(",") + (s.tls ? " tls " + s.tls : ""); }).join("; ");
      return row([g.namespace + "/" + g.name, sel || "(none)", servers]);
    }));
  }

  function drawDiagnostics(list) {
    var ul = $("diagnostics");
    ul.replaceChildren();
    if (list.length === 0) ul.appendChild(el("li", { class: "empty" }, "none"));
    list.forEach(function (d) { ul.appendChild(el("li", { class: /\berror\b/i.test(d) ? "error" : "" }, d)); });
  }

  // The graph: four columns (service, route, subset, endpoint), nodes in the
  // order the routes name them, edges as curves from one column to the next.
  var COL = [20, 310, 660, 960], W = [210, 260, 220, 270], H = 40, GAP = 14;
  function graphModel(view) {
    var cols = [[], [], [], []], byKey = {}, edges = [];
    function node(col, key, kind, title, sub, extra) {
      if (!byKey[key]) { byKey[key] = { col: col, key: key, kind: kind, title: title, sub: sub, extra: extra || {} }; cols[col].push(byKey[key]); }
      return byKey[key];
    }
    function edge(from, to, label, cls, data) { edges.push({ from: from, to: to, label: label, cls: cls, data: data || {} }); }
    function destinations(route, ds) {
      ds.forEach(function (d) {
        var sk = "subset:" + d.host + "/" + (d.subset || "*") + (d.port ? ":" + d.port : "");
        var sub = d.problem ? d.problem : d.labels ? Object.keys(d.labels).map(function (k) { return k + "=" + d.labels[k]; }).join(",") : "all endpoints";
        var s = node(2, sk, "subset", short(d.host) + " " + (d.subset || "(all)"), sub, { subset: d.subset || "", problem: d.problem || "" });
        edge(route, s, d.weight + "%", "weighted" + (d.weight === 0 ? " zero" : ""), { weight: d.weight, subset: d.subset || "", route: route.key });
        d.endpoints.forEach(function (e) {
          var ek = "ep:" + e.address + ":" + e.port;
          var n = node(3, ek, "endpoint" + (e.healthy ? "" : " unhealthy"), e.address + ":" + e.port, (e.workload || "") + (e.version ? " " + e.version : ""));
          edge(s, n, "", "", {});
        });
      });
    }
    var routed = {};
    view.virtualServices.forEach(function (vs) {
      vs.hosts.forEach(function (h) {
        routed[h] = true;
        var svc = node(0, "svc:" + h, "service", short(h), "gateways: " + vs.gateways.join(","));
        vs.routes.forEach(function (r) {
          var rk = "route:" + vs.namespace + "/" + vs.name + "/" + r.name;
          var what = r.match.length ? "match " + r.match.join(" | ") : "matches all";
          var rn = node(1, rk, "route", vs.name + " / " + r.name, r.protocol + ": " + (r.action ? r.action + ", " : "") + what);
          edge(svc, rn, "", "", {});
          if (!rn.done) { rn.done = true; destinations(rn, r.destinations); }
        });
      });
    });
    view.services.forEach(function (s) {
      if (routed[s.host]) return;
      var svc = node(0, "svc:" + s.host, "service", short(s.host), "no VirtualService");
      var rn = node(1, "route:default:" + s.host, "route", "default route", "all traffic");
      edge(svc, rn, "", "", {});
      destinations(rn, [{ host: s.host, weight: 100, endpoints: [] }]);
    });
    return { cols: cols, edges: edges };
  }

  // Cut text to the box (about px pixels a character); the node's <title> has all of it.
  function fit(text, width, px) {
    var n = Math.floor((width - 14) / px);
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function drawGraph(view) {
    var g = graphModel(view);
    var height = 20;
    g.cols.forEach(function (col) {
      col.forEach(function (n, i) { n.x = COL[n.col]; n.y = 20 + i * (H + GAP); });
      height = Math.max(height, 20 + col.length * (H + GAP));
    });
    var root = svg("svg", { width: COL[3] + W[3] + 20, height: height + 10, role: "img", "aria-label": "routes: service, route, subset, endpoint" });
    var placed = [];
    g.edges.forEach(function (e) {
      var x1 = e.from.x + W[e.from.col], y1 = e.from.y + H / 2, x2 = e.to.x, y2 = e.to.y + H / 2, mx = (x1 + x2) / 2;
      var width = e.data.weight !== undefined ? 1 + e.data.weight / 12 : 1.2;
      root.appendChild(svg("path", { class: "edge " + e.cls, d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2, "stroke-width": width }));
      if (e.label) {
        // At the curve's middle; crossing edges (route A to subset B, route B to subset A) meet there, so a label that would
        // sit on another one moves down until it is free.
        var lx = mx, ly = (y1 + y2) / 2;
        while (placed.some(function (p) { return p[0] === lx && Math.abs(p[1] - ly) < 13; })) ly += 13;
        placed.push([lx, ly]);
        var t = svg("text", { class: "edge-label" + (e.data.weight !== undefined ? " weight" : ""), x: lx, y: ly - 3, "text-anchor": "middle" }, e.label);
        if (e.data.weight !== undefined) { t.setAttribute("data-route", e.data.route); t.setAttribute("data-subset", e.data.subset); t.setAttribute("data-weight", e.data.weight); }
        root.appendChild(t);
      }
    });
    g.cols.forEach(function (col) {
      col.forEach(function (n) {
        var gr = svg("g", { class: "node " + n.kind, transform: "translate(" + n.x + "," + n.y + ")", "data-key": n.key });
        gr.appendChild(svg("rect", { width: W[n.col], height: H, rx: 6 }));
        gr.appendChild(svg("title", {}, n.title + "\n" + n.sub));
        gr.appendChild(svg("text", { x: 8, y: 16 }, fit(n.title, W[n.col], 7)));
        gr.appendChild(svg("text", { x: 8, y: 31, class: "sub" + (n.extra.problem ? " problem" : "") }, fit(n.sub, W[n.col], 5.6)));
        root.appendChild(gr);
      });
    });
    $("graph").replaceChildren(root);
  }

  function status(text, bad) {
    var s = $("status");
    s.textContent = text;
    s.className = "status" + (bad ? " error" : "");
  }

  var timer;
  function refresh() {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    fetch("/debug/mesh", { headers: headers, cache: "no-store" }).then(function (res) {
      if (res.status === 401) {
        $("token-form").hidden = false;
        status(token ? "the token was refused" : "this port wants a token", true);
        return;
      }
      if (!res.ok) return res.text().then(function (t) { status("/debug/mesh: " + res.status + " " + t, true); });
      return res.json().then(function (d) {
        $("token-form").hidden = true;
        if (d.mesh) { drawGraph(d.mesh); drawServices(d.mesh.services); drawGateways(d.mesh.gateways); }
        else $("graph").replaceChildren(el("p", { class: "empty" }, "serving a --resources file: no mesh model to draw"));
        drawProxies(d.proxies);
        drawDiagnostics(d.diagnostics);
        status("updated " + new Date().toLocaleTimeString() + " · " + d.proxies.length + " proxies · every " + every / 1000 + " s");
        document.body.setAttribute("data-updated", String(Date.now()));
      });
    }).catch(function (e) { status("cannot reach the debug port: " + e.message, true); });
  }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem("mini-pilot-token", token);
    refresh();
  });
  refresh();
  timer = setInterval(refresh, every);
  window.addEventListener("pagehide", function () { clearInterval(timer); });
})();
`;
