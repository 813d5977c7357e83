/**
 * Registers the inline DAG widget (`jupyter-metaflow` module) with the
 * ipywidgets manager, and makes a click on one of its nodes select the step's
 * cell in the notebook that shows the widget.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { DagWidgetModel, DagWidgetView, MODULE_NAME, MODULE_VERSION } from './dagwidget';

export { DagWidgetModel, DagWidgetView, MODULE_NAME, MODULE_VERSION } from './dagwidget';

/** The widget plugin. */
export const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-metaflow:widget',
  description: 'The inline DAG ipywidget shown by %mf_dag.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  optional: [INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry,
    tracker: INotebookTracker | null
  ): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: { DagWidgetModel, DagWidgetView }
    });
    if (tracker) {
      DagWidgetView.onSelect = (view, _step, cellId) => {
        const panel = tracker.find(p => p.node.contains(view.el));
        if (!panel || cellId === null) {
          return;
        }
        const notebook = panel.content;
        const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
        if (index >= 0) {
          notebook.activeCellIndex = index;
          void notebook.scrollToItem(index, 'smart');
        }
      };
    }
  }
};
