/** The mesh page's stylesheet. */
export const MESH_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 16px; padding: 10px 20px; background: #1d2430; color: #fff; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 18px 0 6px; }
.status { font-size: 12px; opacity: .8; }
.status.error { color: #ffb4a8; opacity: 1; }
main, form { padding: 0 20px 20px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d8dce3; padding: 3px 8px; text-align: left; vertical-align: top; font-size: 13px; }
th { background: #eceff3; }
td.SYNCED { color: #176b2c; }
td.STALE { color: #8a5a00; }
td.NOT_SENT { color: #6b7280; }
td.ERROR { color: #b42318; font-weight: 600; }
.nack { display: block; font-weight: normal; max-width: 520px; white-space: pre-wrap; }
.graph { background: #fff; border: 1px solid #d8dce3; overflow: auto; }
.graph svg { display: block; }
.node rect { fill: #fff; stroke: #7b8594; rx: 6; }
.node.service rect { fill: #e8f0fe; stroke: #3b6fd4; }
.node.route rect { fill: #fdf5e6; stroke: #c98a1b; }
.node.subset rect { fill: #eaf7ee; stroke: #2f8f4e; }
.node.endpoint rect { fill: #f3f4f6; }
.node.endpoint.unhealthy rect { stroke: #b42318; stroke-dasharray: 3 2; }
.node text { font-size: 12px; }
.node text.sub { font-size: 10px; fill: #5b6472; }
.edge { fill: none; stroke: #9aa3b1; }
.edge.weighted { stroke: #2f8f4e; }
.edge.zero { stroke-dasharray: 4 3; }
.edge-label { font-size: 11px; fill: #1d2430; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.edge-label.weight { font-weight: 700; fill: #176b2c; }
.problem { fill: #b42318; }
#diagnostics li { font-family: ui-monospace, monospace; font-size: 12px; }
#diagnostics li.error { color: #b42318; }
.empty { color: #6b7280; font-style: italic; }
`;
