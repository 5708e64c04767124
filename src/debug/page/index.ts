/**
 * The mesh page's static files, served at /, /mesh.js and /mesh.css. They hold
 * no mesh data, so they are open like /healthz; the data comes from
 * /debug/mesh, which the token guards. The CSP allows only this origin's own
 * script and style: no inline script, no CDN, nothing fetched elsewhere.
 */
import { MESH_HTML } from "./html";
import { MESH_JS } from "./script";
import { MESH_CSS } from "./style";

export interface PageAsset {
  type: string;
  body: string;
  headers: Record<string, string>;
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export const PAGE_ASSETS: ReadonlyMap<string, PageAsset> = new Map([
  ["/", { type: "text/html; charset=utf-8", body: MESH_HTML, headers: SECURITY_HEADERS }],
  ["/mesh.js", { type: "text/javascript; charset=utf-8", body: MESH_JS, headers: SECURITY_HEADERS }],
  ["/mesh.css", { type: "text/css; charset=utf-8", body: MESH_CSS, headers: SECURITY_HEADERS }],
]);
