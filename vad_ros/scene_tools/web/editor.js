// vad-scene edit: the page. Plain JavaScript, no libraries; the server (editor.py) validates and saves.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const state = {
  doc: null, layers: [], vocabulary: {},
  sel: null,          // {layer, index}: the selected shape
  vertex: null,       // index of the selected vertex of the selected shape
  draft: null,        // {layer, points}: a shape being drawn
  drag: null,         // {layer, index, vertex}: a vertex being moved
};

function layerOf(key) { return state.layers.find((l) => l.key === key); }
function items(key) { return state.doc[key]; }
function round1(v) { return Math.round(v * 10) / 10; }

function colour(name) {
  let h = 0;
  for (const c of String(name || '?')) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360}, 75%, 55%)`;
}

function setStatus(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = kind || '';
}

function toImage(evt) {
  const svg = $('overlay');
  const pt = svg.createSVGPoint();
  pt.x = evt.clientX;
  pt.y = evt.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  const [w, h] = state.doc.image_size;
  return [round1(Math.min(Math.max(p.x, 0), w)), round1(Math.min(Math.max(p.y, 0), h))];
}

function unit() {  // image pixels per screen pixel
  return state.doc.image_size[0] / $('overlay').getBoundingClientRect().width;
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function pointsAttr(points) { return points.map((p) => p.join(',')).join(' '); }

function centroid(points) {
  const n = points.length;
  return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
}

// ---- drawing -------------------------------------------------------------------------------------------
function render() {
  const svg = $('overlay');
  svg.replaceChildren();
  const order = ['regions', 'ignore', 'zones', 'tripwires'];
  for (const key of order) {
    const layer = layerOf(key);
    if (!layer) continue;
    items(key).forEach((item, index) => drawShape(svg, layer, item, index));
  }
  drawCalibration(svg);
  if (state.sel) drawHandles(svg);
  if (state.draft) drawDraft(svg);
  renderLists();
}

function drawShape(svg, layer, item, index) {
  const points = item[layer.points] || [];
  if (points.length < 2) return;
  const name = item[layer.name] || '';
  const selected = state.sel && state.sel.layer === layer.key && state.sel.index === index;
  const c = layer.key === 'regions' ? colour(name) : layer.key === 'zones' ? '#ffffff'
    : layer.key === 'ignore' ? '#9a9a9a' : '#ffd400';
  const attrs = { points: pointsAttr(points), class: 'shape' + (selected ? ' selected' : ''), stroke: c,
    'data-layer': layer.key, 'data-index': index };
  let shape;
  if (layer.kind === 'line') {
    shape = el('polyline', { ...attrs, fill: 'none', 'stroke-width': 4 }, svg);
    drawDirection(svg, points, index);
  } else {
    const fill = layer.key === 'regions' ? c : layer.key === 'ignore' ? '#777' : 'none';
    const opacity = layer.key === 'regions' ? 0.35 : 0.3;
    shape = el('polygon', { ...attrs, fill, 'fill-opacity': opacity }, svg);
    if (layer.key === 'zones') shape.setAttribute('stroke-dasharray', '8 4');
  }
  shape.addEventListener('mousedown', (evt) => {
    if (state.draft) return;
    evt.stopPropagation();
    select(layer.key, index, null);
  });
  // a tripwire's name at its first point (its middle carries the "in" arrow), other shapes' at their centroid
  const first = points[0];
  const [x, y] = layer.kind === 'line' ? [first[0], first[1] + (first[1] > 24 * unit() ? -10 : 22) * unit()]
    : centroid(points);
  const tag = el('text', { x, y, class: 'tag', 'text-anchor': 'middle', 'font-size': 14 * unit(),
    'pointer-events': 'none' }, svg);
  tag.textContent = (layer.key === 'regions' ? '' : layer.title.replace(/s$/, '').toLowerCase() + ': ')
    + (name || '(no name)');
}

// Where and which way a move crosses a tripwire "in": [middle of its first segment of non-zero length, unit
// vector] in image pixels (y down), or null. The vector points to the line's left-hand side walking from its first
// point to its last as seen (a wire drawn left to right: up). The same formula as vad_ros.reasoning.tripwires.in_arrow,
// which the engine's crossings and the Python drawings use; test_editor_browser.py checks the two agree.
function inArrow(points) {
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [a, b] = [points[i], points[i + 1]];
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len = Math.hypot(dx, dy);
    if (len > 0) return [[(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], [dy / len, -dx / len]];
  }
  return null;
}

function drawDirection(svg, points, index) {
  // An arrow across the wire in the direction of an "in" crossing, "in" beyond its head (as vad-scene show draws it).
  const arrow = inArrow(points);
  if (!arrow) return;
  const [m, d] = arrow;
  const u = unit();
  const at = (k) => [m[0] + d[0] * k * u, m[1] + d[1] * k * u];   // k screen pixels along the arrow
  const side = (p, k) => [p[0] - d[1] * k * u, p[1] + d[0] * k * u];
  const tail = at(-20);
  const base = at(28);
  const tip = at(44);
  const g = el('g', { class: 'in-arrow', 'data-index': index, 'pointer-events': 'none' }, svg);
  el('line', { x1: tail[0], y1: tail[1], x2: base[0], y2: base[1], stroke: '#ffd400', 'stroke-width': 3,
    'vector-effect': 'non-scaling-stroke' }, g);
  el('polygon', { class: 'head', points: pointsAttr([tip, side(base, 8), side(base, -8)]), fill: '#ffd400' }, g);
  const [x, y] = at(56);
  const label = el('text', { x, y, class: 'in-label', 'text-anchor': 'middle', 'dominant-baseline': 'central',
    'font-size': 13 * u, 'font-weight': 'bold', 'font-family': 'sans-serif', fill: '#ffd400', stroke: '#000',
    'stroke-width': 3 * u, 'paint-order': 'stroke' }, g);
  label.textContent = 'in';
}

function drawCalibration(svg) {
  for (const p of state.doc.calibration || []) {
    if (!p || !Array.isArray(p.image)) continue;
    el('circle', { cx: p.image[0], cy: p.image[1], r: 4 * unit(), fill: '#0f0', 'pointer-events': 'none' }, svg);
  }
}

function drawHandles(svg) {
  const layer = layerOf(state.sel.layer);
  const points = items(layer.key)[state.sel.index][layer.points];
  const r = 6 * unit();
  const edges = layer.kind === 'line' ? points.length - 1 : points.length;
  for (let i = 0; i < edges; i += 1) {
    const a = points[i];
    const b = points[(i + 1) % points.length];
    const mid = el('circle', { cx: (a[0] + b[0]) / 2, cy: (a[1] + b[1]) / 2, r: r * 0.7, class: 'midpoint',
      'data-edge': i }, svg);
    mid.addEventListener('mousedown', (evt) => {
      evt.stopPropagation();
      points.splice(i + 1, 0, [round1((a[0] + b[0]) / 2), round1((a[1] + b[1]) / 2)]);
      startDrag(i + 1);
    });
  }
  points.forEach((p, i) => {
    const h = el('circle', { cx: p[0], cy: p[1], r, class: 'handle' + (state.vertex === i ? ' selected' : ''),
      'data-vertex': i }, svg);
    h.addEventListener('mousedown', (evt) => {
      evt.stopPropagation();
      startDrag(i);
    });
  });
}

function drawDraft(svg) {
  const pts = state.draft.points;
  if (!pts.length) return;
  el('polyline', { points: pointsAttr(pts), class: 'draft' }, svg);
  pts.forEach((p, i) => el('circle', { cx: p[0], cy: p[1], r: (i === 0 ? 8 : 5) * unit(), class: 'handle',
    'pointer-events': 'none' }, svg));
}

function renderLists() {
  const box = $('lists');
  box.replaceChildren();
  for (const layer of state.layers) {
    const h = document.createElement('h3');
    h.textContent = `${layer.title} (${items(layer.key).length})`;
    box.appendChild(h);
    items(layer.key).forEach((item, index) => {
      const row = document.createElement('div');
      const selected = state.sel && state.sel.layer === layer.key && state.sel.index === index;
      row.className = 'row' + (selected ? ' selected' : '');
      row.style.borderLeftColor = layer.key === 'regions' ? colour(item[layer.name]) : '#888';
      row.textContent = `${index}: ${item[layer.name] || '(no name)'} — ${(item[layer.points] || []).length} points`;
      row.addEventListener('click', () => select(layer.key, index, null));
      box.appendChild(row);
    });
  }
}

// ---- selection and editing ------------------------------------------------------------------------------
function select(layerKey, index, vertex) {
  state.sel = layerKey === null ? null : { layer: layerKey, index };
  state.vertex = vertex;
  const input = $('label');
  if (state.sel) {
    const layer = layerOf(layerKey);
    input.disabled = false;
    input.value = items(layerKey)[index][layer.name] || '';
    if (layer.vocabulary) input.setAttribute('list', 'vocabulary'); else input.removeAttribute('list');
  } else {
    input.disabled = true;
    input.value = '';
  }
  render();
}

function startDrag(vertex) {
  state.drag = { ...state.sel, vertex };
  state.vertex = vertex;
  render();
}

function onMove(evt) {
  if (!state.drag) return;
  const layer = layerOf(state.drag.layer);
  items(layer.key)[state.drag.index][layer.points][state.drag.vertex] = toImage(evt);
  render();
}

function onUp() { state.drag = null; }

function onCanvasDown(evt) {
  if (evt.button !== 0) return;
  if (!state.draft) { select(null); return; }
  const p = toImage(evt);
  const pts = state.draft.points;
  const layer = layerOf(state.draft.layer);
  const first = pts[0];
  if (layer.kind === 'polygon' && pts.length >= layer.min && first
      && Math.hypot(p[0] - first[0], p[1] - first[1]) < 10 * unit()) {
    finishDraft();
    return;
  }
  pts.push(p);
  render();
}

function startDraft(layerKey) {
  state.draft = { layer: layerKey, points: [] };
  for (const b of document.querySelectorAll('[data-layer]')) b.classList.toggle('active', b.dataset.layer === layerKey);
  select(null);
  setStatus(`click the points of the new ${layerOf(layerKey).title.toLowerCase().replace(/s$/, '')}, then Enter`);
}

function endDraftMode() {
  state.draft = null;
  for (const b of document.querySelectorAll('[data-layer]')) b.classList.remove('active');
}

function finishDraft() {
  if (!state.draft) return;
  const layer = layerOf(state.draft.layer);
  const pts = state.draft.points;
  if (pts.length < layer.min) {
    setStatus(`a ${layer.kind} needs at least ${layer.min} points (has ${pts.length})`, 'error');
    return;
  }
  const item = { [layer.name]: '', [layer.points]: pts };
  items(layer.key).push(item);
  endDraftMode();
  select(layer.key, items(layer.key).length - 1, null);
  setStatus(`new shape: give it a ${layer.name}`);
  $('label').focus();
}

function cancelDraft() {
  endDraftMode();
  setStatus('');
  render();
}

function deleteVertex() {
  if (!state.sel || state.vertex === null) { setStatus('select a vertex first (click it)', 'error'); return; }
  const layer = layerOf(state.sel.layer);
  const pts = items(layer.key)[state.sel.index][layer.points];
  if (pts.length <= layer.min) {
    setStatus(`a ${layer.kind} needs at least ${layer.min} points: delete the shape instead`, 'error');
    return;
  }
  pts.splice(state.vertex, 1);
  select(state.sel.layer, state.sel.index, null);
}

function deleteShape() {
  if (!state.sel) { setStatus('select a shape first', 'error'); return; }
  items(state.sel.layer).splice(state.sel.index, 1);
  select(null);
}

function moveShape(step) {
  if (!state.sel) return;
  const list = items(state.sel.layer);
  const j = state.sel.index + step;
  if (j < 0 || j >= list.length) return;
  [list[state.sel.index], list[j]] = [list[j], list[state.sel.index]];
  select(state.sel.layer, j, null);
}

async function save() {
  setStatus('saving…');
  try {
    const r = await fetch('/api/save', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ document: state.doc }) });
    const answer = await r.json();
    if (answer.ok) {
      setStatus(answer.message, 'ok');
      $('problem').textContent = '';
    } else {
      setStatus('not saved: ' + answer.error, 'error');
    }
  } catch (e) {
    setStatus('not saved: the editor server does not answer (' + e + ')', 'error');
  }
}

// ---- start --------------------------------------------------------------------------------------------
async function start() {
  const s = await (await fetch('/api/state')).json();
  state.doc = s.document;
  state.layers = s.layers;
  state.vocabulary = s.vocabulary;
  for (const layer of state.layers) if (!Array.isArray(state.doc[layer.key])) state.doc[layer.key] = [];
  $('path').textContent = s.path;
  const [w, h] = state.doc.image_size;
  $('overlay').setAttribute('viewBox', `0 0 ${w} ${h}`);
  const [fw, fh] = s.frame_size;
  let problem = s.problem ? 'The file as it is now: ' + s.problem : '';
  if (Math.abs(fw / fh - w / h) > 0.01) {
    problem += `\nThe frame is ${fw}x${fh} but the map was drawn on ${w}x${h}: shapes are stretched to the frame.`;
  }
  $('problem').textContent = problem.trim();
  const list = $('vocabulary');
  for (const name of s.vocabulary.background) {
    const o = document.createElement('option');
    o.value = name;
    list.appendChild(o);
  }
  $('overlay').addEventListener('mousedown', onCanvasDown);
  window.addEventListener('mousemove', onMove);
  window.addEventListener('mouseup', onUp);
  for (const b of document.querySelectorAll('[data-layer]')) b.addEventListener('click', () => startDraft(b.dataset.layer));
  $('finish').addEventListener('click', finishDraft);
  $('cancel').addEventListener('click', cancelDraft);
  $('delete-vertex').addEventListener('click', deleteVertex);
  $('delete-shape').addEventListener('click', deleteShape);
  $('move-up').addEventListener('click', () => moveShape(-1));
  $('move-down').addEventListener('click', () => moveShape(1));
  $('save').addEventListener('click', save);
  $('label').addEventListener('input', () => {
    if (!state.sel) return;
    const layer = layerOf(state.sel.layer);
    items(layer.key)[state.sel.index][layer.name] = $('label').value;
    render();
  });
  window.addEventListener('keydown', (evt) => {
    const typing = evt.target === $('label');
    if ((evt.ctrlKey || evt.metaKey) && evt.key === 's') { evt.preventDefault(); save(); }
    else if (evt.key === 'Enter' && state.draft) { evt.preventDefault(); finishDraft(); }
    else if (evt.key === 'Escape' && state.draft) cancelDraft();
    else if ((evt.key === 'Delete' || evt.key === 'Backspace') && !typing && state.sel) deleteVertex();
  });
  window.addEventListener('resize', render);
  render();
  document.body.dataset.ready = 'true';
}

start();
