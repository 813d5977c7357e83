/**
 * The extension's own icons, drawn in JupyterLab's icon style (16×16 view box,
 * `jp-icon3` fill classes so they follow the theme), distinct from
 * JupyterLab's ▶ and ⏩ so Run Step and Run All Steps are not mistaken for
 * the notebook's own Run buttons.
 */
import { LabIcon } from '@jupyterlab/ui-components';

/** Run Step: a step box with a play mark. */
export const runStepIcon = new LabIcon({
  name: 'jupyter-metaflow:run-step',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 5a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v3h-2V5H6v14h8v-3h2v3a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2z"/>
    <path d="M11 8.5v7l9-3.5z"/>
  </g>
</svg>`
});

/** Run All Steps: three linked steps with a play mark. */
export const runAllStepsIcon = new LabIcon({
  name: 'jupyter-metaflow:run-all-steps',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="2" width="8" height="5" rx="1"/>
    <rect x="2" y="17" width="8" height="5" rx="1"/>
    <path d="M5 7h2v10H5z"/>
    <path d="M13 7.5v9l9-4.5z"/>
  </g>
</svg>`
});

/** Export the flow: a page with an arrow out. */
export const exportFlowIcon = new LabIcon({
  name: 'jupyter-metaflow:export-flow',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M5 2h9l5 5v5h-2V8h-4V4H5v16h7v2H5a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2z"/>
    <path d="M15 14h4.6l-2.3-2.3 1.4-1.4 4.7 4.7-4.7 4.7-1.4-1.4 2.3-2.3H15z"/>
  </g>
</svg>`
});

/** The flow DAG (the panel's tab and Show DAG). */
export const flowDagIcon = new LabIcon({
  name: 'jupyter-metaflow:flow-dag',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="8" y="2" width="8" height="5" rx="1"/>
    <rect x="2" y="10" width="7" height="4.5" rx="1"/>
    <rect x="15" y="10" width="7" height="4.5" rx="1"/>
    <rect x="8" y="17" width="8" height="5" rx="1"/>
    <rect x="11" y="7" width="2" height="2"/>
    <rect x="5" y="8.5" width="14" height="1.5"/>
    <rect x="5" y="15.5" width="14" height="1.5"/>
  </g>
</svg>`
});

/** Fit the drawing to the panel. */
export const fitIcon = new LabIcon({
  name: 'jupyter-metaflow:fit',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h6v2H5v4H3zm12 0h6v6h-2V5h-4zM3 15h2v4h4v2H3zm16 0h2v6h-6v-2h4z"/>
    <rect x="8" y="8" width="8" height="8" rx="1"/>
  </g>
</svg>`
});

/** Zoom in. */
export const zoomInIcon = new LabIcon({
  name: 'jupyter-metaflow:zoom-in',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M10 3a7 7 0 0 1 5.6 11.2l5.6 5.6-1.4 1.4-5.6-5.6A7 7 0 1 1 10 3zm0 2a5 5 0 1 0 0 10 5 5 0 0 0 0-10z"/>
    <path d="M9 7h2v2h2v2h-2v2H9v-2H7V9h2z"/>
  </g>
</svg>`
});

/** Zoom out. */
export const zoomOutIcon = new LabIcon({
  name: 'jupyter-metaflow:zoom-out',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M10 3a7 7 0 0 1 5.6 11.2l5.6 5.6-1.4 1.4-5.6-5.6A7 7 0 1 1 10 3zm0 2a5 5 0 1 0 0 10 5 5 0 0 0 0-10z"/>
    <path d="M7 9h6v2H7z"/>
  </g>
</svg>`
});
