/**
 * The JSON of `application/vnd.jupyter-metaflow.artifact+json`, as built by
 * python/jupyter_metaflow/show/bundle.py and views.py. Every string is untrusted
 * text: render it with text nodes only.
 */
import type { IFrameRows } from '../protocol';

/** The MIME type of `%mf_show` outputs. */
export const MIME_TYPE = 'application/vnd.jupyter-metaflow.artifact+json';

/** Lower than text/html (50), so this renderer wins where it is installed. */
export const RENDERER_RANK = 20;

/** What every bundle says about what it shows. */
export interface IHeader {
  title: string;
  name?: string;
  type?: string;
  size?: number | null;
  flow?: string;
  run?: string;
  step?: string;
  task?: string | null;
  index?: number | null;
  pathspec?: string;
  splits?: number;
  /** The foreach variable the splits iterate over. */
  over?: string;
  tasks?: number;
  status?: string;
  created_at?: string | null;
  finished_at?: string | null;
  run_a?: string;
  run_b?: string;
  scope?: string;
}

/** A PNG, base64-encoded. */
export interface IImage {
  png: string;
  width?: number;
  height?: number;
}

export interface IFrameView {
  kind: 'dataframe';
  series: boolean;
  shape: [number, number];
  columns: string[];
  dtypes: string[];
  columns_omitted: number;
  index_name: string | null;
  memory_bytes: number;
  page_size: number;
  head: IFrameRows;
  tail: IFrameRows;
}

export interface IArrayView {
  kind: 'ndarray';
  shape: number[];
  dtype: string;
  size: number;
  nbytes: number;
  stats: Record<string, number | boolean> | null;
  preview: string;
  /** A picture-shaped array drawn as a PNG. */
  image?: IImage;
  /** A 2-D data matrix: its first and last rows, shaded by value. */
  grid?: IArrayGrid;
}

/** Rows of a 2-D numeric array: text cells and shades (0 = the minimum, 1 = the maximum). */
export interface IArrayGridRows {
  start: number;
  cells: string[][];
  shades: Array<Array<number | null>>;
}

export interface IArrayGrid {
  columns_omitted: number;
  low: number;
  high: number;
  head: IArrayGridRows;
  tail: IArrayGridRows;
}

export interface IImageView {
  kind: 'image';
  source: string;
  detail?: string;
  image: IImage;
}

export interface IEstimatorView {
  kind: 'estimator';
  params: [string, string][];
  text: string;
  html?: string;
}

export interface ITextView {
  kind: 'text';
  type: string;
  length: number;
  lines?: number;
  preview: string;
}

/** A container node (with `entries`) or a leaf (with `text`). */
export interface ITreeNode {
  type: string;
  text?: string;
  length?: number;
  entries?: { key: string | null; value: ITreeNode }[];
  omitted?: number;
}

export interface ITreeView {
  kind: 'tree';
  root: ITreeNode;
}

export interface IRichView {
  kind: 'rich';
  text: string;
  html?: string;
  html_omitted?: number;
  image?: IImage;
}

export interface ITextOnlyView {
  kind: 'scalar' | 'repr';
  text: string;
}

export type View =
  | IFrameView
  | IArrayView
  | IImageView
  | IEstimatorView
  | ITextView
  | ITreeView
  | IRichView
  | ITextOnlyView;

export interface ITaskRow {
  task: string;
  index: number | null;
  /** Foreach position and recursion iteration, e.g. `[1][0]`, `iteration 3`. */
  label: string;
  pathspec: string;
  finished: boolean;
  successful: boolean;
}

export interface IArtifactRow {
  name: string;
  size: number | null;
  type: string | null;
  preview: string | null;
}

export interface IStepRow {
  step: string;
  pathspec: string;
  tasks: number;
  status: string;
  artifacts: string[];
  artifacts_omitted: number;
}

/** The task and artifact name an `artifact_page` request asks for. */
export interface IPageSource {
  pathspec: string;
  artifact: string;
}

export interface ISplitInput {
  var: string;
  value: string;
}

export interface ISplit {
  index: number | null;
  /** Foreach position and recursion iteration, e.g. `[1][0]`, `iteration 3`. */
  label: string;
  task: string;
  /** What the split's foreach gave it (Metaflow's text of the value, cut to 30 characters). */
  input?: ISplitInput | null;
  pathspec: string;
  type: string;
  size: number | null;
  view: View;
  /** Where the kernel pages a frame split from (`artifact_page`). */
  page?: IPageSource;
}

export interface IDiffRow {
  step: string;
  /** The task's foreach position (`[1][2]`), null outside any foreach. */
  split: string | null;
  artifact: string;
  status: 'added' | 'removed' | 'changed';
  size_a: number | null;
  size_b: number | null;
  type_a?: string;
  type_b?: string;
  value_a?: string;
  value_b?: string;
  changes?: [string, string, string][];
  note?: string;
}

/** The whole JSON payload of one `%mf_show` output. */
export interface IShowData {
  version: number;
  kind: 'artifact' | 'splits' | 'step' | 'task' | 'run' | 'diff' | 'omitted';
  header: IHeader;
  notes?: string[];
  view?: View;
  page?: IPageSource;
  splits?: ISplit[];
  omitted?: number;
  tasks?: ITaskRow[];
  tasks_omitted?: number;
  artifacts_of?: string;
  artifacts?: IArtifactRow[];
  artifacts_omitted?: number;
  steps?: IStepRow[];
  rows?: IDiffRow[];
  rows_omitted?: number;
  unchanged?: number;
}

/** Fetches rows of the shown frame from the kernel; rejects with a text message. */
export type PageFetcher = (
  offset: number,
  limit: number
) => Promise<{ total: number; rows: IFrameRows }>;
